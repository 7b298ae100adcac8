import {
  assert,
  assertEquals,
  assertFalse,
  assertRejects,
  assertStrictEquals,
} from "@std/assert";
import { SingleFlight } from "./single_flight.ts";

/** Lets every pending promise reaction run; no timing is involved. */
function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Work the test finishes by hand, counting executions and their signals. */
function controlledWork<V>() {
  const runs: { signal: AbortSignal; done: PromiseWithResolvers<V> }[] = [];
  return {
    runs,
    fn(signal: AbortSignal): Promise<V> {
      const done = Promise.withResolvers<V>();
      runs.push({ signal, done });
      return done.promise;
    },
  };
}

/** Records how a promise settles without an unhandled rejection. */
function track<V>(promise: Promise<V>) {
  const state: { value?: V; error?: unknown; settled: boolean } = {
    settled: false,
  };
  promise.then(
    (value) => Object.assign(state, { value, settled: true }),
    (error) => Object.assign(state, { error, settled: true }),
  );
  return state;
}

Deno.test("SingleFlight.run() runs one execution for concurrent callers of one key", async () => {
  const flights = new SingleFlight<string, Uint8Array>();
  const work = controlledWork<Uint8Array>();
  const callers = Array.from(
    { length: 5 },
    () => flights.run("merged/u/c/f.wav", work.fn),
  );
  assertEquals(work.runs.length, 1);
  assertEquals(flights.inFlight, 1);
  assert(flights.has("merged/u/c/f.wav"));
  const wav = new Uint8Array([1, 2, 3]);
  work.runs[0].done.resolve(wav);
  const values = await Promise.all(callers);
  for (const value of values) assertStrictEquals(value, wav);
  assertEquals(flights.inFlight, 0);
  assertFalse(flights.has("merged/u/c/f.wav"));
});

Deno.test("SingleFlight.run() runs different keys separately", async () => {
  const flights = new SingleFlight<string, string>();
  const work = controlledWork<string>();
  const a = flights.run("a", work.fn);
  const b = flights.run("b", work.fn);
  assertEquals(work.runs.length, 2);
  assertEquals(flights.inFlight, 2);
  work.runs[1].done.resolve("B");
  assertEquals(await b, "B");
  assertEquals(flights.inFlight, 1);
  work.runs[0].done.resolve("A");
  assertEquals(await a, "A");
  assertEquals(flights.inFlight, 0);
});

Deno.test("SingleFlight.run() shares a failure with every caller and forgets it", async () => {
  const flights = new SingleFlight<string, string>();
  const work = controlledWork<string>();
  const first = flights.run("k", work.fn);
  const second = flights.run("k", work.fn);
  const failure = new Error("storage unavailable");
  work.runs[0].done.reject(failure);
  assertStrictEquals(await first.catch((error) => error), failure);
  assertStrictEquals(await second.catch((error) => error), failure);
  assertEquals(flights.inFlight, 0);

  const retry = flights.run("k", work.fn);
  assertEquals(work.runs.length, 2);
  work.runs[1].done.resolve("ok");
  assertEquals(await retry, "ok");
});

Deno.test("SingleFlight.run() turns a synchronous throw of fn into a shared rejection", async () => {
  const flights = new SingleFlight<string, string>();
  const failure = new Error("bad key");
  await assertRejects(
    () =>
      flights.run("k", () => {
        throw failure;
      }),
    Error,
    "bad key",
  );
  assertEquals(flights.inFlight, 0);
});

Deno.test("SingleFlight.run() starts a fresh execution for a call after the previous one settled", async () => {
  const flights = new SingleFlight<string, number>();
  const work = controlledWork<number>();
  const first = flights.run("k", work.fn);
  work.runs[0].done.resolve(1);
  assertEquals(await first, 1);
  const second = flights.run("k", work.fn);
  assertEquals(work.runs.length, 2);
  assertEquals(flights.inFlight, 1);
  work.runs[1].done.resolve(2);
  assertEquals(await second, 2);
});

Deno.test("SingleFlight.run() lets one caller stop waiting without cancelling the work the others wait for", async () => {
  const flights = new SingleFlight<string, string>();
  const work = controlledWork<string>();
  const leaving = new AbortController();
  const staying = new AbortController();
  const left = track(flights.run("k", work.fn, { signal: leaving.signal }));
  const stayed = track(flights.run("k", work.fn, { signal: staying.signal }));
  const reason = new Error("client disconnected");
  leaving.abort(reason);
  await flush();
  assertStrictEquals(left.error, reason);
  assertFalse(stayed.settled);
  assertFalse(work.runs[0].signal.aborted);
  assertEquals(flights.inFlight, 1);

  work.runs[0].done.resolve("merged");
  await flush();
  assertEquals(stayed.value, "merged");
  assertEquals(work.runs.length, 1);
  assertEquals(flights.inFlight, 0);
});

Deno.test("SingleFlight.run() aborts the shared work once every caller has aborted", async () => {
  const flights = new SingleFlight<string, string>();
  const work = controlledWork<string>();
  const controllers = [new AbortController(), new AbortController()];
  const callers = controllers.map((controller) =>
    track(flights.run("k", work.fn, { signal: controller.signal }))
  );
  controllers[0].abort(new Error("first left"));
  await flush();
  assertFalse(work.runs[0].signal.aborted);
  const last = new Error("last left");
  controllers[1].abort(last);
  await flush();
  assert(work.runs[0].signal.aborted);
  assertStrictEquals(work.runs[0].signal.reason, last);
  assertStrictEquals(callers[1].error, last);
  // The cancelled execution is forgotten at once: a new caller starts anew.
  assertEquals(flights.inFlight, 0);
  const fresh = flights.run("k", work.fn);
  assertEquals(work.runs.length, 2);
  assertFalse(work.runs[1].signal.aborted);

  // The old execution settling late does not remove the new entry.
  work.runs[0].done.reject(last);
  await flush();
  assertEquals(flights.inFlight, 1);
  work.runs[1].done.resolve("fresh");
  assertEquals(await fresh, "fresh");
  assertEquals(flights.inFlight, 0);
});

Deno.test("SingleFlight.run() never aborts work that a caller without a signal joined", async () => {
  const flights = new SingleFlight<string, string>();
  const work = controlledWork<string>();
  const controller = new AbortController();
  const withSignal = track(
    flights.run("k", work.fn, { signal: controller.signal }),
  );
  const withoutSignal = flights.run("k", work.fn);
  controller.abort();
  await flush();
  assert(withSignal.settled);
  assertFalse(work.runs[0].signal.aborted);
  work.runs[0].done.resolve("done");
  assertEquals(await withoutSignal, "done");
});

Deno.test("SingleFlight.run() rejects at once for an already aborted signal without starting or joining", async () => {
  const flights = new SingleFlight<string, string>();
  const work = controlledWork<string>();
  const reason = new Error("already gone");
  const error = await flights.run("k", work.fn, {
    signal: AbortSignal.abort(reason),
  }).catch((error) => error);
  assertStrictEquals(error, reason);
  assertEquals(work.runs.length, 0);
  assertEquals(flights.inFlight, 0);

  const controller = new AbortController();
  const running = track(
    flights.run("k", work.fn, { signal: controller.signal }),
  );
  await assertRejects(() =>
    flights.run("k", work.fn, { signal: AbortSignal.abort() })
  );
  // The aborted joiner did not count as a caller that left.
  assertFalse(work.runs[0].signal.aborted);
  work.runs[0].done.resolve("v");
  await flush();
  assertEquals(running.value, "v");
});
