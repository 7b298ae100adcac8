import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { HttpError } from "../http_error.ts";
import {
  batchKey,
  CHUNK_EXTS,
  CHUNK_FETCH_ORDER,
  chunkKey,
  chunkPrefix,
  mergedKey,
  parseChunkName,
  parseListing,
  parseTimestampParam,
  type PathIdKind,
  validatePathId,
} from "./keys.ts";

Deno.test("chunkKey() prints the timestamp with three decimals, ties to even", () => {
  assertEquals(
    chunkKey("u1", "c1", 1717171717.12, "opus"),
    "chunks/u1/c1/1717171717.120.opus",
  );
  assertEquals(
    chunkKey("u1", "c1", 1717171717, "opus.enc"),
    "chunks/u1/c1/1717171717.000.opus.enc",
  );
  // An exact tie: toFixed(3) would give ".063", Python gives ".062".
  assertEquals(
    chunkKey("u", "c", 1700000000.0625, "bin"),
    "chunks/u/c/1700000000.062.bin",
  );
  assertEquals(chunkPrefix("u", "c"), "chunks/u/c/");
});

Deno.test("chunkKey() and batchKey() refuse non-finite or negative timestamps", () => {
  assertThrows(() => chunkKey("u", "c", NaN, "bin"), RangeError);
  assertThrows(() => chunkKey("u", "c", -1, "bin"), RangeError);
  assertThrows(() => batchKey("u", "c", 1, Infinity, "batch.bin"), RangeError);
});

Deno.test("batchKey() names a range, or a single stamp when both print the same", () => {
  assertEquals(
    batchKey("u", "c", 1717171717, 1717171777.5, "batch.enc"),
    "chunks/u/c/1717171717.000-1717171777.500.batch.enc",
  );
  assertEquals(
    batchKey("u", "c", 1717171717.5, 1717171717.5, "batch.bin"),
    "chunks/u/c/1717171717.500.batch.bin",
  );
  // Different doubles that format alike count as a one-chunk batch.
  assertEquals(
    batchKey("u", "c", 1717171717.0001, 1717171717.0002, "batch.bin"),
    "chunks/u/c/1717171717.000.batch.bin",
  );
});

Deno.test("mergedKey() is merged/{uid}/{cid}/{fid}.wav", () => {
  assertEquals(mergedKey("u", "c", "f"), "merged/u/c/f.wav");
});

Deno.test("CHUNK_EXTS lists six extensions longest first; fetch order is opus.enc, enc, opus, bin", () => {
  assertEquals(CHUNK_EXTS.length, 6);
  for (let i = 1; i < CHUNK_EXTS.length; i++) {
    assert(CHUNK_EXTS[i - 1].length >= CHUNK_EXTS[i].length);
  }
  assertEquals([...CHUNK_FETCH_ORDER], ["opus.enc", "enc", "opus", "bin"]);
});

Deno.test("parseChunkName() round-trips every key that chunkKey() and batchKey() build", () => {
  for (const ext of CHUNK_FETCH_ORDER) {
    const key = chunkKey("u", "c", 1717171717.125, ext);
    assertEquals(parseChunkName(key), {
      timestamp: 1717171717.125,
      first: 1717171717.125,
      last: 1717171717.125,
      ext,
      isBatch: false,
      key,
    });
  }
  for (const ext of ["batch.enc", "batch.bin"] as const) {
    const range = batchKey("u", "c", 1717171700.5, 1717171760.25, ext);
    assertEquals(parseChunkName(range), {
      timestamp: 1717171700.5,
      first: 1717171700.5,
      last: 1717171760.25,
      ext,
      isBatch: true,
      key: range,
    });
    const single = batchKey("u", "c", 1717171700.5, 1717171700.5, ext);
    assertEquals(parseChunkName(single), {
      timestamp: 1717171700.5,
      first: 1717171700.5,
      last: 1717171700.5,
      ext,
      isBatch: true,
      key: single,
    });
  }
});

Deno.test("parseChunkName() matches the longest suffix first", () => {
  assertEquals(parseChunkName("1.000.opus.enc")?.ext, "opus.enc");
  assertEquals(parseChunkName("1.000.batch.enc")?.ext, "batch.enc");
  assertEquals(parseChunkName("1.000.batch.bin")?.ext, "batch.bin");
  assertEquals(parseChunkName("1.000.enc")?.ext, "enc");
  assertEquals(parseChunkName("1.000.bin")?.timestamp, 1);
});

Deno.test("parseChunkName() skips names without a suffix or with a bad stem", () => {
  for (
    const name of [
      "chunks/u/c/1717171717.000.wav",
      "chunks/u/c/abc.bin",
      "chunks/u/c/.opus",
      "chunks/u/c/1717171717.000.batch.opus",
      "chunks/u/c/1.0-2.0.opus",
      "chunks/u/c/a-b.batch.bin",
      "chunks/u/c/1-b.batch.bin",
      "chunks/u/c/nan.bin",
      "chunks/u/c/inf.bin",
      "chunks/u/c/1 .bin",
      "chunks/u/c/1717171717.000.opus.tmp",
    ]
  ) {
    assertEquals(parseChunkName(name), null, name);
  }
});

Deno.test("parseListing() sorts by timestamp, keeps sizes, drops junk, is stable", () => {
  const listed = parseListing([
    { key: "chunks/u/c/1717171730.000.opus", size: 30 },
    { key: "chunks/u/c/notes.txt", size: 1 },
    { key: "chunks/u/c/1717171710.000-1717171720.000.batch.bin", size: 10 },
    { key: "chunks/u/c/1717171730.000.bin", size: 31 },
    { key: "chunks/u/c/1717171700.000.enc", size: 5 },
  ]);
  assertEquals(
    listed.map((c) => [c.timestamp, c.size, c.ext, c.isBatch]),
    [
      [1717171700, 5, "enc", false],
      [1717171710, 10, "batch.bin", true],
      [1717171730, 30, "opus", false],
      [1717171730, 31, "bin", false],
    ],
  );
  assertEquals(listed[1].last, 1717171720);
  assertEquals(
    listed[1].key,
    "chunks/u/c/1717171710.000-1717171720.000.batch.bin",
  );
});

function assertBadRequest(fn: () => unknown, includes: string): void {
  const error = assertThrows(fn);
  assertInstanceOf(error, HttpError);
  assertEquals(error.status, 400);
  assertStringIncludes(error.message, includes);
}

Deno.test("validatePathId() accepts ordinary ids and returns them", () => {
  for (
    const id of [
      "Xy7aBcD9eFgH1234567890abcd",
      "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
      "a.b",
      "x".repeat(128),
    ]
  ) {
    assertEquals(validatePathId("conversation_id", id), id);
  }
});

Deno.test("validatePathId() rejects ids that could escape or break a key", () => {
  const cases: [string, string][] = [
    ["", "empty"],
    ["x".repeat(129), "longer than 128"],
    ["a/b", "'/'"],
    ["a\\b", "'\\'"],
    ["..", "'..'"],
    ["a..b", "'..'"],
    [".", "'.'"],
    ["a\u0000b", "control"],
    ["a\u007fb", "control"],
    ["a\nb", "control"],
    ["a b", "whitespace"],
    ["a\u00a0b", "whitespace"],
  ];
  for (const [value, reason] of cases) {
    assertBadRequest(() => validatePathId("uid", value), reason);
  }
  const kinds: PathIdKind[] = [
    "uid",
    "conversation_id",
    "audio_file_id",
    "job_id",
  ];
  for (const kind of kinds) {
    assertBadRequest(() => validatePathId(kind, ""), `Invalid ${kind} ""`);
  }
});

Deno.test("parseTimestampParam() parses plain decimal seconds", () => {
  assertEquals(parseTimestampParam("1717171717.120"), 1717171717.12);
  assertEquals(parseTimestampParam("1717171717"), 1717171717);
  assertEquals(parseTimestampParam("1000000000"), 1e9);
  assertEquals(parseTimestampParam("9999999999.999"), 9999999999.999);
});

Deno.test("parseTimestampParam() rejects signs, exponents, hex, junk and out-of-range values", () => {
  const cases: [string, string][] = [
    ["-1717171717", "negative"],
    ["+1717171717", "decimal seconds"],
    ["1.7e9", "decimal seconds"],
    ["0x66000000", "decimal seconds"],
    ["NaN", "decimal seconds"],
    ["Infinity", "decimal seconds"],
    ["", "decimal seconds"],
    [" 1717171717", "decimal seconds"],
    ["1717171717.", "decimal seconds"],
    ["1717171717.1.2", "decimal seconds"],
    ["999999999.999", "from 1000000000"],
    ["10000000000", "from 1000000000"],
    ["1".repeat(40), "longer than 32"],
  ];
  for (const [text, reason] of cases) {
    assertBadRequest(() => parseTimestampParam(text), reason);
  }
});
