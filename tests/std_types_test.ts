// The @std wrappers are typed by hand; these lines prove `deno check` (run by
// `deno test` and `deno task check`) rejects misuse. If a wrapper lost its
// types, the `@ts-expect-error` lines would become unused and fail the check.
import { assertEquals, assertRejects } from "@std/assert";
import { deadline, delay, pooledMap, retry } from "@std/async";

Deno.test("@std/async pooledMap keeps its element types through the wrapper", async () => {
  const lengths: number[] = await Array.fromAsync(
    pooledMap(2, ["a", "bb", "ccc"], (s) => Promise.resolve(s.length)),
  );
  assertEquals(lengths, [1, 2, 3]);
  if (lengths.length < 0) {
    // @ts-expect-error poolLimit must be a number
    pooledMap("2", [1], (n: number) => Promise.resolve(n));
    // @ts-expect-error the mapper receives a string, not a number
    pooledMap(2, ["a"], (n: number) => Promise.resolve(n));
    // @ts-expect-error the result is an iterator of numbers, not strings
    const _wrong: AsyncIterableIterator<string> = pooledMap(
      1,
      [1],
      (n: number) => Promise.resolve(n),
    );
  }
});

Deno.test("@std/assert assertEquals rejects operands of different types at check time", () => {
  assertEquals({ a: 1 }, { a: 1 });
  if (Date.now() < 0) {
    // @ts-expect-error a number is not comparable with a string
    assertEquals(1, "1");
  }
});

Deno.test("@std/async retry, delay and deadline run through the wrappers", async () => {
  let attempts = 0;
  const value = await retry(() => {
    attempts++;
    if (attempts < 3) throw new Error("not yet");
    return "done";
  }, { minTimeout: 0, maxTimeout: 1, maxAttempts: 5 });
  assertEquals([value, attempts], ["done", 3]);
  await delay(0);
  const never = new Promise<never>(() => {});
  const controller = new AbortController();
  const waiting = deadline(never, 60_000, { signal: controller.signal });
  controller.abort(new Error("stopped"));
  await assertRejects(() => waiting, Error, "stopped");
  if (attempts < 0) {
    // @ts-expect-error deadline wants milliseconds as a number
    deadline(never, "1s");
  }
});
