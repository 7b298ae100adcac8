import { assert, assertEquals, assertThrows } from "@std/assert";
import { formatFixed, pyFloatRepr, pyRound } from "./py_number.ts";
import fixture from "../tests/fixtures/py_number_vectors.json" with {
  type: "json",
};

interface Vector {
  x: string;
  repr: string;
  fixed: Record<string, string>;
  round: Record<string, string>;
}

const vectors: Vector[] = fixture.vectors;

/** Parses a Python repr; JS `Number()` does not know "nan" or "inf". */
function fromPython(text: string): number {
  if (text === "nan") return NaN;
  if (text === "inf") return Infinity;
  if (text === "-inf") return -Infinity;
  return Number(text);
}

Deno.test("py_number fixture holds hundreds of vectors with exact ties", () => {
  assert(vectors.length >= 300, `only ${vectors.length} vectors`);
  // The fixture must contain cases where JS's own toFixed is wrong, or it
  // would not prove anything about tie handling.
  const toFixedWrong = vectors.filter((v) => {
    const x = fromPython(v.x);
    return Number.isFinite(x) && Math.abs(x) < 1e21 &&
      x.toFixed(3) !== v.fixed["3"];
  });
  assert(toFixedWrong.length >= 20, `${toFixedWrong.length} tie cases`);
});

Deno.test("formatFixed() matches Python format(x, '.Nf') on every vector", () => {
  for (const v of vectors) {
    const x = fromPython(v.x);
    for (const [digits, expected] of Object.entries(v.fixed)) {
      assertEquals(
        formatFixed(x, Number(digits)),
        expected,
        `format(${v.x}, '.${digits}f')`,
      );
    }
  }
});

Deno.test("pyRound() matches Python round(x, n) on every vector, bit for bit", () => {
  for (const v of vectors) {
    const x = fromPython(v.x);
    for (const [digits, expected] of Object.entries(v.round)) {
      const got = pyRound(x, Number(digits));
      const want = fromPython(expected);
      assert(
        Object.is(got, want),
        `round(${v.x}, ${digits}): got ${got}, want ${expected}`,
      );
    }
  }
});

Deno.test("pyFloatRepr() matches Python repr(x) on every vector", () => {
  for (const v of vectors) {
    assertEquals(pyFloatRepr(fromPython(v.x)), v.repr, `repr(${v.x})`);
  }
});

Deno.test("formatFixed() sends exact sixteenth ties to the even digit", () => {
  assertEquals(formatFixed(1700000000.0625, 3), "1700000000.062");
  assertEquals(formatFixed(1700000000.1875, 3), "1700000000.188");
  assertEquals(formatFixed(-0.0004, 3), "-0.000");
  assertEquals(formatFixed(2.5, 0), "2");
});

Deno.test("formatFixed() rejects digits outside 0..100", () => {
  assertThrows(() => formatFixed(1, -1), RangeError);
  assertThrows(() => formatFixed(1, 1.5), RangeError);
  assertThrows(() => formatFixed(1, 101), RangeError);
});

Deno.test("pyRound() handles extreme digit counts like CPython", () => {
  assert(Object.is(pyRound(-1.5, -400), -0));
  assertEquals(pyRound(0.1, 400), 0.1);
  assertThrows(() => pyRound(1.7976931348623157e308, -308), RangeError);
  assertThrows(() => pyRound(1, 0.5), RangeError);
});
