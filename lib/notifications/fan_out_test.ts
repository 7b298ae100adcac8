import { assertEquals, assertInstanceOf, assertLessOrEqual } from "@std/assert";
import { Counter, drain, ManualClock } from "./_test_helpers.ts";
import { Semaphore } from "../concurrency/semaphore.ts";
import {
  DeadlineExceededError,
  fanOut,
  NOTIFY_CONCURRENCY,
  type SettledJob,
} from "./fan_out.ts";

/** Jobs that each wait for the test to release them, with in-flight counts. */
function heldJobs() {
  const gates = new Map<number, PromiseWithResolvers<void>>();
  const started = new Counter();
  const events: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  function gate(i: number): PromiseWithResolvers<void> {
    let g = gates.get(i);
    if (!g) {
      g = Promise.withResolvers<void>();
      gates.set(i, g);
    }
    return g;
  }
  async function job(i: number): Promise<number> {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    events.push(`start ${i}`);
    started.increment();
    try {
      await gate(i).promise;
      return i * 10;
    } finally {
      inFlight--;
      events.push(`end ${i}`);
    }
  }
  return {
    job,
    started,
    events,
    release: (i: number) => gate(i).resolve(),
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("fanOut() rolling: never more than 8 in flight, and a freed slot is refilled at once", async () => {
  const jobs = heldJobs();
  const clock = new ManualClock(0);
  const run = fanOut(range(20), jobs.job, { deadlineMs: 1000, clock });

  await jobs.started.reached(NOTIFY_CONCURRENCY);
  await drain();
  assertEquals(jobs.started.count, 8);
  assertEquals(jobs.inFlight, 8);

  // Releasing one job (not the first) lets exactly one more start.
  jobs.release(5);
  await jobs.started.reached(9);
  await drain();
  assertEquals(jobs.started.count, 9);
  assertEquals(
    jobs.events.indexOf("end 5") < jobs.events.indexOf("start 8"),
    true,
  );

  for (let i = 0; i < 20; i++) {
    jobs.release(i);
    await drain();
    assertLessOrEqual(jobs.inFlight, 8);
  }
  const results = await run;
  assertEquals(jobs.maxInFlight, 8);
  assertEquals(
    results.map((r) => r.status === "fulfilled" ? r.value : -1),
    range(20).map((i) => i * 10),
  );
  // Every start after the eighth directly follows an end.
  jobs.events.forEach((event, at) => {
    if (event.startsWith("start") && Number(event.split(" ")[1]) >= 8) {
      assertEquals(jobs.events[at - 1].startsWith("end"), true, event);
    }
  });
});

Deno.test("fanOut() batches: the next batch waits for the slowest job of the current one", async () => {
  const jobs = heldJobs();
  const clock = new ManualClock(0);
  const run = fanOut(range(10), jobs.job, {
    deadlineMs: 1000,
    clock,
    strategy: "batches",
  });
  await jobs.started.reached(8);
  for (const i of [0, 1, 2, 4, 5, 6, 7]) jobs.release(i);
  await drain();
  assertEquals(jobs.started.count, 8);
  assertEquals(jobs.inFlight, 1);

  jobs.release(3);
  await jobs.started.reached(10);
  jobs.release(8);
  jobs.release(9);
  const results = await run;
  assertEquals(jobs.maxInFlight, 8);
  assertEquals(results.length, 10);
  assertEquals(results.every((r) => r.status === "fulfilled"), true);
});

for (const strategy of ["rolling", "batches"] as const) {
  Deno.test(`fanOut() ${strategy}: a throwing job is a rejected result beside fulfilled ones`, async () => {
    const results = await fanOut(
      range(12),
      (i) => {
        if (i === 3) throw new Error("boom");
        if (i === 9) return Promise.reject(new Error("async boom"));
        return Promise.resolve(i);
      },
      { deadlineMs: 1000, clock: new ManualClock(0), strategy },
    );
    const statuses = results.map((r) => r.status);
    assertEquals(statuses.filter((s) => s === "fulfilled").length, 10);
    assertEquals(results[3].status, "rejected");
    assertEquals(
      (results[9] as { reason: Error }).reason.message,
      "async boom",
    );
  });
}

Deno.test("fanOut() aborts a job at its deadline and reports deadline exceeded", async () => {
  const clock = new ManualClock(0);
  const hanging = Promise.withResolvers<void>();
  const sawAbort: unknown[] = [];
  const run = fanOut(["fast", "hang"], (name, signal) => {
    if (name === "fast") return Promise.resolve(name);
    hanging.resolve();
    return new Promise<string>((_, reject) => {
      signal.addEventListener("abort", () => {
        sawAbort.push(signal.reason);
        reject(signal.reason);
      });
    });
  }, { deadlineMs: 50, clock });
  await hanging.promise;
  await drain();
  clock.fireAll();
  const results = await run;
  assertEquals(results[0], {
    item: "fast",
    status: "fulfilled",
    value: "fast",
  });
  const hung = results[1] as SettledJob<string, string> & { reason: unknown };
  assertEquals(hung.status, "rejected");
  assertInstanceOf(hung.reason, DeadlineExceededError);
  assertInstanceOf(sawAbort[0], DeadlineExceededError);
  assertEquals(clock.sleeping, 0);
});

Deno.test("fanOut() frees the slot of a job that ignores its deadline signal", async () => {
  const clock = new ManualClock(0);
  const stubborn = Promise.withResolvers<string>();
  const stubbornStarted = Promise.withResolvers<void>();
  const nextStarted = Promise.withResolvers<void>();
  const run = fanOut(["stubborn", "next"], (name) => {
    if (name === "next") {
      nextStarted.resolve();
      return Promise.resolve(name);
    }
    stubbornStarted.resolve();
    return stubborn.promise;
  }, { deadlineMs: 50, clock, concurrency: 1 });
  await stubbornStarted.promise;
  await drain();
  clock.fireAll();
  // "next" starts while "stubborn" is still pending.
  await nextStarted.promise;
  stubborn.resolve("late");
  const results = await run;
  assertEquals(results[0].status, "rejected");
  assertEquals(results[1].status, "fulfilled");
});

Deno.test("fanOut() refuses a concurrency below 1", async () => {
  let message = "";
  try {
    await fanOut([1], (i) => Promise.resolve(i), {
      deadlineMs: 1,
      concurrency: 0,
    });
  } catch (error) {
    message = (error as Error).message;
  }
  assertEquals(
    message,
    "Cannot fan out with concurrency 0: it must be a positive integer",
  );
});

Deno.test("fanOut() starts a job's deadline only once it holds a shared slot", async () => {
  const clock = new ManualClock(0);
  const slots = new Semaphore("notify.user", { permits: 1 });
  const held = slots.tryAcquire()!;
  const ran: number[] = [];
  const run = fanOut([1], (i) => {
    ran.push(i);
    return Promise.resolve(i * 10);
  }, { deadlineMs: 100, clock, slots });
  await drain();
  // Waiting for the slot: no deadline is armed, so firing every timer
  // cannot fail the job.
  assertEquals(clock.sleeping, 0);
  clock.fireAll();
  assertEquals(slots.waiting, 1);
  held.release();
  const [result] = await run;
  assertEquals(result.status, "fulfilled");
  assertEquals(ran, [1]);
  assertEquals(slots.inFlight, 0);
});
