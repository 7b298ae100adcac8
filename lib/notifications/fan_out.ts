/**
 * Runs one job per item with at most N in flight, a deadline per job, and
 * every outcome settled: a job that throws, times out or hangs becomes a
 * `rejected` result beside the others, never an error that stops the rest.
 *
 * Two strategies, so the benchmark can compare them:
 *
 * - `"rolling"`: a window of N; a finished job's slot is refilled at once
 *   (built on `pooledMap` from `@std/async`).
 * - `"batches"`: the original's fixed batches of N, each waiting for its
 *   slowest job before the next starts (reference section 8).
 *
 * @module
 */
import { pooledMap } from "@std/async";
import type { Clock } from "../clock.ts";
import type { Permit, Semaphore } from "../concurrency/semaphore.ts";
import { systemClock } from "../clock.ts";

/**
 * Users in flight at once: the original's batch size of 8, kept as the
 * window (reference section 8 and 7.2; the `notify.user` limiter of
 * DESIGN.md section 4).
 */
export const NOTIFY_CONCURRENCY = 8;
/**
 * How long a finished fan-out waits for jobs it gave up on (past their
 * deadline) to notice the abort, so their cleanup runs before it returns.
 */
export const ABANDONED_GRACE_MS = 1000;

/** How jobs are scheduled. */
export type FanOutStrategy = "rolling" | "batches";

/** A job's settled outcome, with the item it ran on. */
export type SettledJob<T, R> =
  | { item: T; status: "fulfilled"; value: R }
  | { item: T; status: "rejected"; reason: unknown };

/** A job ran past its deadline. */
export class DeadlineExceededError extends Error {
  /** @param ms the deadline */
  constructor(ms: number) {
    super(`Deadline exceeded after ${ms} ms`);
    this.name = "DeadlineExceededError";
  }
}

/** Options of {@linkcode fanOut}. */
export interface FanOutOptions {
  /** Default `"rolling"`. */
  strategy?: FanOutStrategy;
  /** Jobs in flight at once; default {@linkcode NOTIFY_CONCURRENCY}. */
  concurrency?: number;
  /** Each job's deadline; its signal aborts with a {@linkcode DeadlineExceededError}. */
  deadlineMs: number;
  /** Times the deadlines; default the system clock. */
  clock?: Clock;
  /** Aborts every running job; jobs not started yet settle as rejected at once. */
  signal?: AbortSignal;
  /**
   * A process-wide limiter each job holds a permit of while it runs. The
   * permit is taken before the job's deadline starts, so waiting for a slot
   * held by an overlapping run never counts against a user's deadline.
   */
  slots?: Semaphore;
}

/**
 * Runs `job` on every item and returns the settled outcomes in input order.
 * A job gets an `AbortSignal` that aborts at its deadline; when the deadline
 * passes the job's slot is freed even if the job ignores the signal.
 *
 * @example
 * ```ts
 * import { fanOut } from "./fan_out.ts";
 * const results = await fanOut([1, 2, 3], (n) => Promise.resolve(n * 2), {
 *   deadlineMs: 1000,
 * });
 * results.map((r) => r.status); // ["fulfilled", "fulfilled", "fulfilled"]
 * ```
 */
export async function fanOut<T, R>(
  items: Iterable<T>,
  job: (item: T, signal: AbortSignal) => Promise<R>,
  options: FanOutOptions,
): Promise<SettledJob<T, R>[]> {
  const concurrency = options.concurrency ?? NOTIFY_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Cannot fan out with concurrency ${concurrency}: it must be a positive integer`,
    );
  }
  const clock = options.clock ?? systemClock;
  const abandoned = new Set<Promise<unknown>>();

  async function settle(item: T): Promise<SettledJob<T, R>> {
    let slot: Permit | undefined;
    try {
      slot = await options.slots?.acquire({
        signal: options.signal,
        priority: "background",
      });
    } catch (reason) {
      return { item, status: "rejected", reason };
    }
    try {
      return await settleInSlot(item);
    } finally {
      slot?.release();
    }
  }

  async function settleInSlot(item: T): Promise<SettledJob<T, R>> {
    const controller = new AbortController();
    const stopTimer = new AbortController();
    const onRunAbort = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onRunAbort, { once: true });
    const expired = new Promise<never>((_, reject) => {
      clock.sleep(options.deadlineMs, stopTimer.signal).then(() => {
        const error = new DeadlineExceededError(options.deadlineMs);
        controller.abort(error);
        reject(error);
      }, () => {/* the job finished first */});
    });
    const running = Promise.resolve().then(() => {
      options.signal?.throwIfAborted();
      return job(item, controller.signal);
    });
    try {
      const value = await Promise.race([running, expired]);
      return { item, status: "fulfilled", value };
    } catch (reason) {
      if (controller.signal.aborted) {
        const tracked = running.catch(() => {}).finally(() =>
          abandoned.delete(tracked)
        );
        abandoned.add(tracked);
      }
      return { item, status: "rejected", reason };
    } finally {
      stopTimer.abort();
      options.signal?.removeEventListener("abort", onRunAbort);
    }
  }

  const results: SettledJob<T, R>[] = [];
  if ((options.strategy ?? "rolling") === "rolling") {
    for await (const result of pooledMap(concurrency, items, settle)) {
      results.push(result);
    }
  } else {
    let batch: T[] = [];
    const runBatch = async () => {
      // settle() never rejects, so allSettled only documents the isolation.
      for (const outcome of await Promise.allSettled(batch.map(settle))) {
        if (outcome.status === "fulfilled") results.push(outcome.value);
      }
      batch = [];
    };
    for (const item of items) {
      batch.push(item);
      if (batch.length === concurrency) await runBatch();
    }
    if (batch.length > 0) await runBatch();
  }
  await waitForAbandoned(abandoned, clock);
  return results;
}

async function waitForAbandoned(
  abandoned: Set<Promise<unknown>>,
  clock: Clock,
): Promise<void> {
  if (abandoned.size === 0) return;
  const stop = new AbortController();
  try {
    await Promise.race([
      Promise.allSettled([...abandoned]),
      clock.sleep(ABANDONED_GRACE_MS, stop.signal).catch(() => {}),
    ]);
  } finally {
    stop.abort();
  }
}
