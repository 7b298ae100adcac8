import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { Semaphore } from "./semaphore.ts";
import { slidingWindow } from "./sliding_window.ts";

/** Lets every pending promise reaction run; no timing is involved. */
function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

/**
 * Jobs that run until the test finishes them, optionally holding a permit
 * of `semaphore` the way a merge's chunk fetch holds `storage.chunk`.
 */
class ControlledJobs {
  /** Indices in the order `fn` was called. */
  readonly started: number[] = [];
  /** Indices that hold their permit (if any) and wait to be finished. */
  readonly running = new Set<number>();
  /** Indices whose signal aborted while they waited. */
  readonly aborted: number[] = [];
  settled = 0;
  highWater = 0;
  readonly #gates = new Map<number, PromiseWithResolvers<void>>();
  readonly #semaphore: Semaphore | undefined;
  readonly #honorSignal: boolean;

  constructor(
    options: { semaphore?: Semaphore; honorSignal?: boolean } = {},
  ) {
    this.#semaphore = options.semaphore;
    this.#honorSignal = options.honorSignal ?? true;
  }

  /** Jobs started and not settled yet, waiting for a permit or running. */
  get active(): number {
    return this.started.length - this.settled;
  }

  fn = async (job: number, index: number, signal: AbortSignal) => {
    this.started.push(index);
    try {
      using _permit = this.#semaphore
        ? await this.#semaphore.acquire({ signal })
        : undefined;
      const gate = Promise.withResolvers<void>();
      this.#gates.set(index, gate);
      this.running.add(index);
      this.highWater = Math.max(this.highWater, this.running.size);
      const onAbort = () => {
        this.aborted.push(index);
        gate.reject(signal.reason);
      };
      if (this.#honorSignal) {
        signal.addEventListener("abort", onAbort, { once: true });
      }
      try {
        await gate.promise;
        return job * 10;
      } finally {
        signal.removeEventListener("abort", onAbort);
        this.running.delete(index);
      }
    } finally {
      this.settled++;
    }
  };

  finish(index: number, error?: Error): void {
    const gate = this.#gates.get(index);
    assert(gate, `job ${index} is not running`);
    if (error) gate.reject(error);
    else gate.resolve();
  }
}

/** Reads an iterator as fast as results come, recording each one. */
function consume<R>(results: AsyncIterable<R>) {
  const taken: R[] = [];
  const done = (async () => {
    for await (const result of results) taken.push(result);
  })();
  return { taken, done };
}

Deno.test("slidingWindow() yields every result in input order when jobs finish out of order", async () => {
  const jobs = new ControlledJobs();
  const { taken, done } = consume(
    slidingWindow(range(6), jobs.fn, { window: 3 }),
  );
  await flush();
  assertEquals(jobs.started, [0, 1, 2]);
  jobs.finish(2);
  jobs.finish(1);
  await flush();
  assertEquals(taken, []);
  assertEquals(jobs.started, [0, 1, 2]);
  jobs.finish(0);
  await flush();
  assertEquals(taken, [0, 10, 20]);
  assertEquals(jobs.started, [0, 1, 2, 3, 4, 5]);
  jobs.finish(5);
  jobs.finish(3);
  jobs.finish(4);
  await done;
  assertEquals(taken, [0, 10, 20, 30, 40, 50]);
});

Deno.test("slidingWindow() never starts more than window jobs ahead of a slow consumer", async () => {
  const window = 3;
  const started: number[] = [];
  const results = slidingWindow(range(10), (job, index) => {
    started.push(index);
    return Promise.resolve(job);
  }, { window });
  await flush();
  // Nothing runs before the consumer asks.
  assertEquals(started.length, 0);
  for (let consumed = 0; consumed < 10; consumed++) {
    const step = await results.next();
    assertEquals(step, { value: consumed, done: false });
    await flush();
    // Every job finishes at once, yet the source stays exactly `window`
    // ahead of what the consumer has taken.
    assertEquals(started.length, Math.min(10, consumed + 1 + window));
  }
  assertEquals(await results.next(), { value: undefined, done: true });
  assertEquals(started, range(10));
});

Deno.test("slidingWindow() with window 4 under a global cap of 16 keeps exactly at most 4 jobs in flight over 20 jobs", async () => {
  // Reference 7.4, property 1, without the original's W + 1 slack.
  const semaphore = new Semaphore("storage.chunk", { permits: 16 });
  const jobs = new ControlledJobs({ semaphore });
  const { taken, done } = consume(
    slidingWindow(range(20), jobs.fn, { window: 4 }),
  );
  await flush();
  for (let step = 0; jobs.settled < 20; step++) {
    assertEquals(jobs.started.length, Math.min(20, taken.length + 4));
    assertEquals(jobs.running.size, jobs.active);
    assertEquals(semaphore.inFlight, jobs.running.size);
    assertEquals(semaphore.waiting, 0);
    // Finish the newest and the oldest running job by turns, so results
    // complete out of order.
    const running = [...jobs.running].sort((a, b) => a - b);
    jobs.finish(step % 2 === 0 ? running.at(-1)! : running[0]);
    await flush();
  }
  await done;
  assertEquals(taken, range(20).map((job) => job * 10));
  assertEquals(jobs.highWater, 4);
  assertEquals(semaphore.inFlight, 0);
  assertEquals(semaphore.available, 16);
});

Deno.test("slidingWindow() with a global cap of 6 across 3 callers of 10 jobs never holds more than 6 permits, and each caller gets its own results", async () => {
  // Reference 7.4, property 3, without the original's high-water mark of 7.
  const semaphore = new Semaphore("storage.chunk", { permits: 6 });
  const callers = [0, 1, 2].map((caller) => {
    const jobs = new ControlledJobs({ semaphore });
    const inputs = range(10).map((index) => caller * 100 + index);
    return { jobs, ...consume(slidingWindow(inputs, jobs.fn, { window: 4 })) };
  });
  await flush();
  let globalHighWater = 0;
  for (let step = 0; callers.some(({ jobs }) => jobs.settled < 10); step++) {
    const active = callers.reduce((sum, { jobs }) => sum + jobs.active, 0);
    const running = callers.flatMap(({ jobs }, caller) =>
      [...jobs.running].map((index) => ({ caller, index }))
    );
    assertEquals(semaphore.inFlight, Math.min(6, active));
    assertEquals(semaphore.inFlight, running.length);
    assertEquals(semaphore.waiting, active - semaphore.inFlight);
    for (const { jobs, taken } of callers) {
      assertEquals(jobs.started.length, Math.min(10, taken.length + 4));
    }
    globalHighWater = Math.max(globalHighWater, semaphore.inFlight);
    // A deterministic scramble of which running job finishes next.
    running.sort((a, b) => a.caller - b.caller || a.index - b.index);
    const next = running[(step * 7) % running.length];
    callers[next.caller].jobs.finish(next.index);
    await flush();
  }
  for (const [caller, { taken, done }] of callers.entries()) {
    await done;
    assertEquals(taken, range(10).map((index) => (caller * 100 + index) * 10));
  }
  assertEquals(globalHighWater, 6);
  assertEquals(semaphore.inFlight, 0);
  assertEquals(semaphore.waiting, 0);
});

Deno.test("slidingWindow() leaves exactly 4 permits available after 8 jobs where every other throws", async () => {
  // Reference 7.4, property 2, with the jobs run through the window.
  const semaphore = new Semaphore("storage.chunk", { permits: 4 });
  const jobs = new ControlledJobs({ semaphore, honorSignal: false });
  const { taken, done } = consume(
    slidingWindow(range(8), jobs.fn, { window: 8 }),
  );
  const outcome = done.then(() => undefined, (error) => error);
  await flush();
  assertEquals(jobs.started, range(8));
  assertEquals(semaphore.inFlight, 4);
  assertEquals(semaphore.waiting, 4);
  const failures = new Map<number, Error>();
  for (let step = 0; jobs.running.size > 0; step++) {
    const index = Math.min(...jobs.running);
    const failure = index % 2 === 1 ? new Error(`job ${index} failed`) : null;
    if (failure) failures.set(index, failure);
    jobs.finish(index, failure ?? undefined);
    await flush();
    assertEquals(semaphore.inFlight, jobs.running.size);
  }
  const error = await outcome;
  // Job 1 failed first in input order; the window stopped there, and the
  // jobs still waiting for a permit gave up through the window's signal.
  assertStrictEquals(error, failures.get(1));
  assertEquals(taken, [0]);
  assertEquals(jobs.settled, 8);
  assertEquals(semaphore.available, 4);
  assertEquals(semaphore.inFlight, 0);
  assertEquals(semaphore.waiting, 0);
});

Deno.test("slidingWindow() throws the first failure in input order, unwrapped, after the results before it", async () => {
  const jobs = new ControlledJobs();
  const results = slidingWindow(range(6), jobs.fn, { window: 3 });
  const first = results.next();
  await flush();
  assertEquals(jobs.started, [0, 1, 2]);
  const failure = new TypeError("chunk 2 is corrupt");
  jobs.finish(2, failure);
  await flush();
  // A failure stops new jobs at once, before the consumer reaches it.
  jobs.finish(0);
  assertEquals(await first, { value: 0, done: false });
  await flush();
  assertEquals(jobs.started, [0, 1, 2]);
  const second = results.next();
  jobs.finish(1);
  assertEquals(await second, { value: 10, done: false });
  const error = await assertRejects(() => results.next(), TypeError);
  assertStrictEquals(error, failure);
  assertEquals(await results.next(), { value: undefined, done: true });
  assertEquals(jobs.started, [0, 1, 2]);
});

Deno.test("slidingWindow() stops starting jobs and waits for the calls in flight when the consumer breaks early", async () => {
  const semaphore = new Semaphore("storage.chunk", { permits: 16 });
  const jobs = new ControlledJobs({ semaphore });
  const taken: number[] = [];
  const loop = (async () => {
    for await (
      const result of slidingWindow(range(10), jobs.fn, { window: 4 })
    ) {
      taken.push(result);
      if (taken.length === 2) break;
    }
  })();
  await flush();
  jobs.finish(0);
  await flush();
  assertEquals(jobs.started, [0, 1, 2, 3, 4]);
  jobs.finish(1);
  await loop;
  assertEquals(taken, [0, 10]);
  // Taking result 1 may admit job 5 just before the break; nothing later.
  const started = jobs.started.length;
  assert(started === 5 || started === 6, `${started} jobs started`);
  // By the time the loop has exited, every job in flight saw the abort and
  // settled, and its permit is back.
  assertEquals(jobs.aborted.sort(), range(started).slice(2));
  assertEquals(jobs.running.size, 0);
  assertEquals(jobs.settled, started);
  assertEquals(semaphore.inFlight, 0);
  assertEquals(semaphore.waiting, 0);
  await flush();
  assertEquals(jobs.started.length, started);
});

Deno.test("slidingWindow() stops starting jobs when its signal aborts and rejects with the reason", async () => {
  const controller = new AbortController();
  const jobs = new ControlledJobs();
  const results = slidingWindow(range(5), jobs.fn, {
    window: 2,
    signal: controller.signal,
  });
  const first = results.next();
  await flush();
  jobs.finish(0);
  assertEquals(await first, { value: 0, done: false });
  await flush();
  assertEquals(jobs.started, [0, 1, 2]);
  const reason = new Error("client went away");
  controller.abort(reason);
  const error = await assertRejects(() => results.next());
  assertStrictEquals(error, reason);
  assertEquals(jobs.aborted, [1, 2]);
  assertEquals(jobs.running.size, 0);
  await flush();
  assertEquals(jobs.started, [0, 1, 2]);
  assertEquals(await results.next(), { value: undefined, done: true });
});

Deno.test("slidingWindow() rejects at once for an already aborted signal without starting a job", async () => {
  const reason = new Error("cancelled");
  let calls = 0;
  const results = slidingWindow(range(3), (job) => {
    calls++;
    return Promise.resolve(job);
  }, { window: 2, signal: AbortSignal.abort(reason) });
  const error = await assertRejects(() => results.next());
  assertStrictEquals(error, reason);
  assertEquals(calls, 0);
});

Deno.test("slidingWindow() pulls an async jobs iterable lazily and closes it when the consumer stops", async () => {
  let pulled = 0;
  let closed = false;
  async function* chunkNames() {
    try {
      for (let index = 0; index < 100; index++) {
        pulled++;
        yield index;
      }
    } finally {
      closed = true;
    }
  }
  const results = slidingWindow(
    chunkNames(),
    (job) => Promise.resolve(job),
    { window: 4 },
  );
  assertEquals(await results.next(), { value: 0, done: false });
  await flush();
  assertEquals(pulled, 5);
  assertEquals(await results.next(), { value: 1, done: false });
  await flush();
  assertEquals(pulled, 6);
  await results.return?.(undefined);
  assert(closed);
  assertEquals(pulled, 6);
});

Deno.test("slidingWindow() throws an error of the jobs iterable after the results before it", async () => {
  const failure = new Error("listing failed");
  function* chunkNames() {
    yield 1;
    yield 2;
    throw failure;
  }
  const taken: number[] = [];
  const error = await assertRejects(async () => {
    for await (
      const result of slidingWindow(
        chunkNames(),
        (job) => Promise.resolve(job),
        {
          window: 4,
        },
      )
    ) taken.push(result);
  });
  assertStrictEquals(error, failure);
  assertEquals(taken, [1, 2]);
});

Deno.test("slidingWindow() hands the job's index to fn and completes an empty input", async () => {
  const seen: [string, number][] = [];
  const results = await Array.fromAsync(
    slidingWindow(["a", "b", "c"], (job, index) => {
      seen.push([job, index]);
      return Promise.resolve(`${job}${index}`);
    }, { window: 2 }),
  );
  assertEquals(results, ["a0", "b1", "c2"]);
  assertEquals(seen, [["a", 0], ["b", 1], ["c", 2]]);
  assertEquals(
    await Array.fromAsync(
      slidingWindow([], () => Promise.resolve(1), { window: 1 }),
    ),
    [],
  );
});

Deno.test("slidingWindow() rejects a window that is not a positive integer", () => {
  for (const window of [0, -1, 1.5, NaN]) {
    const error = assertThrows(
      () => slidingWindow([1], () => Promise.resolve(1), { window }),
      RangeError,
      `Cannot create a sliding window of ${window}: the window must be a positive integer`,
    );
    assertInstanceOf(error, RangeError);
  }
});
