import {
  assert,
  assertEquals,
  assertFalse,
  assertInstanceOf,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import type { Clock } from "../clock.ts";
import { HttpError, OverloadedError } from "../http_error.ts";
import {
  LimiterFullError,
  LimiterTimeoutError,
  PerKeyCapError,
  type Permit,
  Semaphore,
} from "./semaphore.ts";

/** Lets every pending promise reaction run; no timing is involved. */
function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A clock whose time moves only when the test says so. */
class FakeClock implements Clock {
  #now = 1_000_000;
  #timers = new Set<{ at: number; fire(): void }>();

  now(): number {
    return this.#now;
  }

  random(): number {
    return 0.5;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = {
      at: this.#now + ms,
      fire: () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
    };
    const onAbort = () => {
      this.#timers.delete(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#timers.add(timer);
    return promise;
  }

  /** Timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    this.#now += ms;
    for (const timer of [...this.#timers]) {
      if (timer.at <= this.#now) {
        this.#timers.delete(timer);
        timer.fire();
      }
    }
  }
}

/** Starts an acquire and records when and how it settles. */
function track(promise: Promise<Permit>) {
  const state: {
    permit?: Permit;
    error?: unknown;
    settled: boolean;
  } = { settled: false };
  promise.then(
    (permit) => {
      state.permit = permit;
      state.settled = true;
    },
    (error) => {
      state.error = error;
      state.settled = true;
    },
  );
  return state;
}

function counts(semaphore: Semaphore) {
  return {
    inFlight: semaphore.inFlight,
    waiting: semaphore.waiting,
    available: semaphore.available,
  };
}

Deno.test("Semaphore.acquire() grants at once while permits are free", async () => {
  const semaphore = new Semaphore("test", { permits: 2 });
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 2 });
  const first = await semaphore.acquire();
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 0, available: 1 });
  const second = await semaphore.acquire();
  assertEquals(counts(semaphore), { inFlight: 2, waiting: 0, available: 0 });
  assertStrictEquals(first.semaphore, semaphore);
  first.release();
  second.release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 2 });
  assertEquals(semaphore.granted, 2);
});

Deno.test("Semaphore.acquire() grants waiters in FIFO order", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const holder = await semaphore.acquire();
  const order: string[] = [];
  const waiters = ["a", "b", "c", "d"].map((name) =>
    semaphore.acquire().then((permit) => {
      order.push(name);
      return permit;
    })
  );
  await flush();
  assertEquals(order, []);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 4, available: 0 });

  holder.release();
  await flush();
  assertEquals(order, ["a"]);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 3, available: 0 });

  for (const [step, next] of ["b", "c", "d"].entries()) {
    (await waiters[step]).release();
    await flush();
    assertEquals(order.at(-1), next);
    assertEquals(counts(semaphore), {
      inFlight: 1,
      waiting: 2 - step,
      available: 0,
    });
  }
  assertEquals(order, ["a", "b", "c", "d"]);
  (await waiters[3]).release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore.acquire() grants every interactive waiter before any background waiter", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const holder = await semaphore.acquire();
  const order: string[] = [];
  const queue: [string, "interactive" | "background"][] = [
    ["b1", "background"],
    ["i1", "interactive"],
    ["b2", "background"],
    ["i2", "interactive"],
  ];
  const waiters = new Map(queue.map(([name, priority]) => [
    name,
    semaphore.acquire({ priority }).then((permit) => {
      order.push(name);
      return permit;
    }),
  ]));
  await flush();
  assertEquals(semaphore.waitingAt("interactive"), 2);
  assertEquals(semaphore.waitingAt("background"), 2);

  holder.release();
  await flush();
  (await waiters.get("i1")!).release();
  await flush();
  assertEquals(order, ["i1", "i2"]);
  assertEquals(semaphore.waitingAt("interactive"), 0);
  assertEquals(semaphore.waitingAt("background"), 2);

  // A newcomer at interactive priority still goes ahead of older background waiters.
  const late = semaphore.acquire().then((permit) => {
    order.push("i3");
    return permit;
  });
  (await waiters.get("i2")!).release();
  await flush();
  (await late).release();
  await flush();
  (await waiters.get("b1")!).release();
  await flush();
  (await waiters.get("b2")!).release();
  assertEquals(order, ["i1", "i2", "i3", "b1", "b2"]);
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore permit released twice returns only one permit", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const permit = await semaphore.acquire();
  const first = track(semaphore.acquire());
  const second = track(semaphore.acquire());
  permit.release();
  permit.release();
  permit[Symbol.dispose]();
  await flush();
  assert(first.settled);
  assertFalse(second.settled);
  assert(permit.released);
  assertEquals(semaphore.releasedTwice, 2);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 1, available: 0 });
  first.permit!.release();
  await flush();
  second.permit!.release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore permit held with using is released when the block throws", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  async function failingWork() {
    using _permit = await semaphore.acquire();
    assertEquals(semaphore.inFlight, 1);
    throw new Error("boom");
  }
  await assertRejects(failingWork, Error, "boom");
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
  assertEquals(semaphore.releasedTwice, 0);
});

Deno.test("Semaphore returns all 4 permits when every other of 8 holders throws", async () => {
  // Reference 7.4, property 2: no permit leak on exception.
  const semaphore = new Semaphore("storage.chunk", { permits: 4 });
  const gates = Array.from({ length: 8 }, () => Promise.withResolvers<void>());
  let running = 0;
  let highWater = 0;
  const tasks = gates.map(async (gate, index) => {
    using _permit = await semaphore.acquire();
    running++;
    highWater = Math.max(highWater, running);
    try {
      await gate.promise;
      if (index % 2 === 1) throw new Error(`task ${index} failed`);
      return index;
    } finally {
      running--;
    }
  });
  const outcomes = Promise.allSettled(tasks);
  await flush();
  assertEquals(counts(semaphore), { inFlight: 4, waiting: 4, available: 0 });
  for (const [index, gate] of gates.entries()) {
    gate.resolve();
    await flush();
    const remaining = 7 - index;
    assertEquals(semaphore.inFlight, Math.min(4, remaining));
    assertEquals(semaphore.waiting, Math.max(0, remaining - 4));
  }
  assertEquals((await outcomes).map((outcome) => outcome.status), [
    "fulfilled",
    "rejected",
    "fulfilled",
    "rejected",
    "fulfilled",
    "rejected",
    "fulfilled",
    "rejected",
  ]);
  assertEquals(highWater, 4);
  assertEquals(semaphore.available, 4);
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 4 });
});

Deno.test("Semaphore.tryAcquire() returns null when no permit is free and never jumps the queue", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const holder = semaphore.tryAcquire();
  assert(holder);
  assertEquals(semaphore.tryAcquire(), null);
  const waiter = track(semaphore.acquire());
  holder.release();
  // The queued waiter got the freed permit, so there is none to try for.
  assertEquals(semaphore.tryAcquire(), null);
  await flush();
  assert(waiter.settled);
  waiter.permit!.release();
  const again = semaphore.tryAcquire();
  assert(again);
  again.release();
  assertEquals(semaphore.granted, 3);
});

Deno.test("Semaphore.acquire() rejects at once with LimiterFullError when maxWaiting requests are queued", async () => {
  const semaphore = new Semaphore("storage.chunk", {
    permits: 1,
    maxWaiting: 2,
    retryAfterSeconds: 3,
  });
  const holder = await semaphore.acquire();
  const queued = [track(semaphore.acquire()), track(semaphore.acquire())];
  const error = await assertRejects(
    () => semaphore.acquire(),
    LimiterFullError,
    'Limiter "storage.chunk" is full: 2 requests are already waiting',
  );
  assertInstanceOf(error, OverloadedError);
  assertEquals(error.status, 503);
  assertEquals(error.headers, { "Retry-After": "3" });
  assertEquals(error.limiter, "storage.chunk");
  assertEquals(semaphore.rejected, 1);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 2, available: 0 });

  holder.release();
  await flush();
  assert(queued[0].settled);
  queued[0].permit!.release();
  await flush();
  queued[1].permit!.release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore.acquire() with maxWaiting 0 never queues", async () => {
  const semaphore = new Semaphore("test", { permits: 1, maxWaiting: 0 });
  const holder = await semaphore.acquire();
  await assertRejects(() => semaphore.acquire(), LimiterFullError);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 0, available: 0 });
  holder.release();
});

Deno.test("Semaphore.acquire() lets an interactive request take the place of the youngest background waiter when full", async () => {
  const semaphore = new Semaphore("test", { permits: 1, maxWaiting: 2 });
  const holder = await semaphore.acquire();
  const older = track(semaphore.acquire({ priority: "background" }));
  const younger = track(semaphore.acquire({ priority: "background" }));
  await assertRejects(
    () => semaphore.acquire({ priority: "background" }),
    LimiterFullError,
  );
  const interactive = track(semaphore.acquire({ priority: "interactive" }));
  await flush();
  assertInstanceOf(younger.error, LimiterFullError);
  assertFalse(older.settled);
  assertEquals(semaphore.waitingAt("interactive"), 1);
  assertEquals(semaphore.waitingAt("background"), 1);
  assertEquals(semaphore.rejected, 2);

  holder.release();
  await flush();
  assert(interactive.permit);
  assertFalse(older.settled);
  interactive.permit.release();
  await flush();
  older.permit!.release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore.acquire() rejects an interactive request when the full queue holds no background waiter", async () => {
  const semaphore = new Semaphore("test", { permits: 1, maxWaiting: 1 });
  const holder = await semaphore.acquire();
  const queued = track(semaphore.acquire());
  await assertRejects(() => semaphore.acquire(), LimiterFullError);
  holder.release();
  await flush();
  queued.permit!.release();
  assertEquals(semaphore.rejected, 1);
});

Deno.test("Semaphore.acquire() rejects with LimiterTimeoutError once timeoutMs has passed", async () => {
  const clock = new FakeClock();
  const semaphore = new Semaphore("storage.file", {
    permits: 1,
    clock,
  });
  const holder = await semaphore.acquire();
  const waiter = track(semaphore.acquire({ timeoutMs: 1_000 }));
  assertEquals(clock.pendingTimers, 1);
  clock.advance(999);
  await flush();
  assertFalse(waiter.settled);
  assertEquals(semaphore.waiting, 1);

  clock.advance(1);
  await flush();
  assertInstanceOf(waiter.error, LimiterTimeoutError);
  assertEquals(waiter.error.status, 503);
  assertEquals(waiter.error.headers, { "Retry-After": "1" });
  assertEquals(
    waiter.error.message,
    'Limiter "storage.file" gave no permit within 1000 ms',
  );
  assertEquals(semaphore.timedOut, 1);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 0, available: 0 });
  holder.release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore.acquire() cancels the timeout timer of a granted waiter", async () => {
  const clock = new FakeClock();
  const semaphore = new Semaphore("test", { permits: 1, clock });
  const holder = await semaphore.acquire();
  const waiter = track(semaphore.acquire({ timeoutMs: 1_000 }));
  assertEquals(clock.pendingTimers, 1);
  holder.release();
  await flush();
  assert(waiter.permit);
  assertEquals(clock.pendingTimers, 0);
  clock.advance(5_000);
  await flush();
  assertEquals(semaphore.timedOut, 0);
  assertEquals(semaphore.inFlight, 1);
  waiter.permit.release();
});

Deno.test("Semaphore.acquire() with the system clock leaves no timer behind once granted", async () => {
  // The test sanitizer fails this test if the 60 s timer stays pending.
  const semaphore = new Semaphore("test", { permits: 1 });
  const holder = await semaphore.acquire();
  const waiting = semaphore.acquire({ timeoutMs: 60_000 });
  holder.release();
  (await waiting).release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore.acquire() with timeoutMs 0 rejects at once only when no permit is free", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const holder = await semaphore.acquire({ timeoutMs: 0 });
  await assertRejects(
    () => semaphore.acquire({ timeoutMs: 0 }),
    LimiterTimeoutError,
  );
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 0, available: 0 });
  assertEquals(semaphore.timedOut, 1);
  holder.release();
});

Deno.test("Semaphore.acquire() rejects at once with the reason of an already aborted signal", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const reason = new Error("caller left");
  const free = semaphore.acquire({ signal: AbortSignal.abort(reason) });
  assertStrictEquals(await free.catch((error) => error), reason);
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
  assertEquals(semaphore.aborted, 1);
  assertEquals(semaphore.granted, 0);
});

Deno.test("Semaphore.acquire() rejects with the signal's reason when aborted while waiting, and the permit goes to the next waiter", async () => {
  const clock = new FakeClock();
  const semaphore = new Semaphore("test", { permits: 1, clock });
  const holder = await semaphore.acquire();
  const controller = new AbortController();
  const aborted = track(
    semaphore.acquire({ signal: controller.signal, timeoutMs: 1_000 }),
  );
  const next = track(semaphore.acquire());
  assertEquals(semaphore.waiting, 2);

  const reason = new Error("client disconnected");
  controller.abort(reason);
  await flush();
  assertStrictEquals(aborted.error, reason);
  assertEquals(semaphore.aborted, 1);
  assertEquals(semaphore.waiting, 1);
  assertEquals(clock.pendingTimers, 0);

  holder.release();
  await flush();
  assert(next.permit);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 0, available: 0 });
  next.permit.release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore hands the permit to the next waiter when a waiter aborts in the same tick as a release", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const holder = await semaphore.acquire();
  const controller = new AbortController();
  const first = track(semaphore.acquire({ signal: controller.signal }));
  const second = track(semaphore.acquire());
  controller.abort(new Error("gone"));
  holder.release();
  await flush();
  assertInstanceOf(first.error, Error);
  assert(second.permit);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 0, available: 0 });
  second.permit.release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
  assertEquals(semaphore.releasedTwice, 0);
});

Deno.test("Semaphore keeps a permit granted just before its waiter's signal aborts, and the holder releases it once", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const holder = await semaphore.acquire();
  const controller = new AbortController();
  const first = track(semaphore.acquire({ signal: controller.signal }));
  const second = track(semaphore.acquire());
  holder.release();
  controller.abort(new Error("too late"));
  await flush();
  // The promise had settled with the permit, so the abort changed nothing.
  assert(first.permit);
  assertEquals(first.error, undefined);
  assertEquals(semaphore.aborted, 0);
  assertFalse(second.settled);
  assertEquals(counts(semaphore), { inFlight: 1, waiting: 1, available: 0 });

  first.permit.release();
  await flush();
  assert(second.permit);
  second.permit.release();
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
  assertEquals(semaphore.granted, 3);
});

Deno.test("Semaphore.acquire() removes its abort listener once the waiter is granted", async () => {
  const semaphore = new Semaphore("test", { permits: 1 });
  const holder = await semaphore.acquire();
  const signal = new AbortController().signal;
  const listeners = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (type: string, listener: EventListener) => {
    listeners.add(listener);
    add(type, listener);
  };
  signal.removeEventListener = (type: string, listener: EventListener) => {
    listeners.delete(listener);
    remove(type, listener);
  };
  const waiting = semaphore.acquire({ signal });
  assertEquals(listeners.size, 1);
  holder.release();
  (await waiting).release();
  assertEquals(listeners.size, 0);
});

Deno.test("Semaphore.acquire() rejects a key over perKeyCap with PerKeyCapError, counting queued requests", async () => {
  const semaphore = new Semaphore("merge.user", { permits: 1, perKeyCap: 2 });
  const held = await semaphore.acquire({ key: "alice" });
  const controller = new AbortController();
  const queued = track(
    semaphore.acquire({ key: "alice", signal: controller.signal }),
  );
  assertEquals(semaphore.countFor("alice"), 2);

  const error = await assertRejects(
    () => semaphore.acquire({ key: "alice" }),
    PerKeyCapError,
    'Limiter "merge.user" allows at most 2 concurrent requests per user',
  );
  assertInstanceOf(error, HttpError);
  assertEquals(error.status, 429);
  assertEquals(error.key, "alice");
  assertEquals(error.headers, { "Retry-After": "1" });
  assertEquals(semaphore.rejected, 1);
  assertEquals(semaphore.waiting, 1);

  // Another key still queues.
  const bob = track(semaphore.acquire({ key: "bob" }));
  assertEquals(semaphore.waiting, 2);

  // A request that stops waiting gives its place under the cap back.
  controller.abort();
  await flush();
  assert(queued.settled);
  assertEquals(semaphore.countFor("alice"), 1);
  const again = track(semaphore.acquire({ key: "alice" }));
  assertEquals(semaphore.countFor("alice"), 2);

  held.release();
  await flush();
  assert(bob.permit);
  bob.permit.release();
  await flush();
  again.permit!.release();
  assertEquals(semaphore.countFor("alice"), 0);
  assertEquals(semaphore.countFor("bob"), 0);
  assertEquals(counts(semaphore), { inFlight: 0, waiting: 0, available: 1 });
});

Deno.test("Semaphore.tryAcquire() returns null for a key at its perKeyCap", () => {
  const semaphore = new Semaphore("test", { permits: 4, perKeyCap: 1 });
  const permit = semaphore.tryAcquire({ key: "alice" });
  assert(permit);
  assertEquals(semaphore.tryAcquire({ key: "alice" }), null);
  const other = semaphore.tryAcquire({ key: "bob" });
  assert(other);
  permit.release();
  const again = semaphore.tryAcquire({ key: "alice" });
  assert(again);
  again.release();
  other.release();
  assertEquals(semaphore.inFlight, 0);
});

Deno.test("Semaphore.acquire() refuses a caller that holds an unreleased permit of the same limiter", async () => {
  const chunks = new Semaphore("storage.chunk", { permits: 2 });
  const files = new Semaphore("storage.file", { permits: 1 });
  const file = await files.acquire();
  const chunk = await chunks.acquire({ holding: [file] });
  await assertRejects(
    () => chunks.acquire({ holding: [file, chunk] }),
    Error,
    'Cannot acquire a permit of limiter "storage.chunk": the caller holds one already',
  );
  assertEquals(counts(chunks), { inFlight: 1, waiting: 0, available: 1 });
  chunk.release();
  const next = await chunks.acquire({ holding: [file, chunk] });
  next.release();
  file.release();
});

Deno.test("Semaphore.longestWaitMs is the age of the oldest waiter of either priority", async () => {
  const clock = new FakeClock();
  const semaphore = new Semaphore("test", { permits: 1, clock });
  const holder = await semaphore.acquire();
  assertEquals(semaphore.longestWaitMs, 0);
  const background = track(semaphore.acquire({ priority: "background" }));
  clock.advance(300);
  const interactive = track(semaphore.acquire());
  clock.advance(200);
  assertEquals(semaphore.longestWaitMs, 500);

  holder.release();
  await flush();
  assertEquals(semaphore.longestWaitMs, 500);
  interactive.permit!.release();
  await flush();
  assertEquals(semaphore.longestWaitMs, 0);
  background.permit!.release();
});

Deno.test("Semaphore.collect() reports gauges and counters labelled with the limiter name", async () => {
  const clock = new FakeClock();
  const semaphore = new Semaphore("storage.chunk", {
    permits: 2,
    maxWaiting: 1,
    clock,
  });
  const held = [await semaphore.acquire(), await semaphore.acquire()];
  const waiter = track(semaphore.acquire({ priority: "background" }));
  await assertRejects(
    () => semaphore.acquire({ priority: "background" }),
    LimiterFullError,
  );
  clock.advance(1_500);
  held[0].release();
  held[0].release();
  const timedOut = track(semaphore.acquire({ timeoutMs: 10 }));
  clock.advance(10);
  await flush();
  assert(timedOut.settled);

  const families = new Map(
    semaphore.collect().map((family) => [family.name, family]),
  );
  const value = (name: string, labels: Record<string, string> = {}) =>
    families.get(name)!.samples.find((sample) =>
      Object.entries({ limiter: "storage.chunk", ...labels }).every((
        [label, wanted],
      ) => sample.labels?.[label] === wanted)
    )?.value;
  assertEquals(value("audiosync_limiter_permits"), 2);
  assertEquals(value("audiosync_limiter_in_flight"), 2);
  assertEquals(
    value("audiosync_limiter_waiting", { priority: "interactive" }),
    0,
  );
  assertEquals(
    value("audiosync_limiter_waiting", { priority: "background" }),
    0,
  );
  assertEquals(value("audiosync_limiter_longest_wait_seconds"), 0);
  assertEquals(value("audiosync_limiter_granted_total"), 3);
  assertEquals(
    value("audiosync_limiter_rejected_total", { reason: "queue_full" }),
    1,
  );
  assertEquals(
    value("audiosync_limiter_rejected_total", { reason: "per_key_cap" }),
    0,
  );
  assertEquals(value("audiosync_limiter_timed_out_total"), 1);
  assertEquals(value("audiosync_limiter_aborted_total"), 0);
  assertEquals(value("audiosync_limiter_released_twice_total"), 1);
  assertEquals(
    families.get("audiosync_limiter_granted_total")!.type,
    "counter",
  );
  assertEquals(families.get("audiosync_limiter_in_flight")!.type, "gauge");
  waiter.permit!.release();
  held[1].release();
});

Deno.test("Semaphore constructor rejects permits that are not a positive integer", () => {
  assertThrows(
    () => new Semaphore("storage.chunk", { permits: 0 }),
    RangeError,
    'Cannot create limiter "storage.chunk": permits must be a positive integer, got 0',
  );
  assertThrows(() => new Semaphore("x", { permits: 1.5 }), RangeError);
  assertThrows(
    () => new Semaphore("x", { permits: 1, maxWaiting: -1 }),
    RangeError,
  );
  assertThrows(
    () => new Semaphore("x", { permits: 1, perKeyCap: 0 }),
    RangeError,
  );
});
