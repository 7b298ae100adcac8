/**
 * A bounded, ordered, backpressured map over jobs: the fetch loop of a merge
 * (DESIGN.md section 3: "a sliding window built on `pooledMap` fetches at
 * most 8 chunks per merge").
 *
 * `pooledMap` from `@std/async` bounds the calls in flight but applies no
 * backpressure: as soon as a call finishes it starts the next one, and its
 * results pile up in a stream until the reader takes them. So the source fed
 * to it here is gated: it yields job `i + window` only once the consumer has
 * taken result `i`. Jobs started never exceed results taken plus `window`,
 * which bounds both the calls in flight and the results buffered, and a
 * merge's memory grows with the window, not with the conversation.
 *
 * @module
 */
import { pooledMap } from "@std/async";

/** Options of {@linkcode slidingWindow}. */
export interface SlidingWindowOptions {
  /** Most jobs started and not yet taken by the consumer; a positive integer. */
  window: number;
  /**
   * Stops the iteration: no job starts after it aborts, the signal handed to
   * `fn` aborts, and the iterator rejects with the reason once the calls in
   * flight have settled.
   */
  signal?: AbortSignal;
}

type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Calls `fn` on every job with at most `options.window` jobs ahead of the
 * consumer, and yields the results in input order.
 *
 * - **Errors.** A call that throws stops new jobs at once; the results
 *   before it are still yielded in order, then the iterator throws that
 *   call's error as it was thrown (the first failure in input order, not
 *   wrapped). `pooledMap` would throw an `AggregateError` of every failure,
 *   after yielding later results out of order; wrapping each call so that it
 *   never rejects keeps the order and the caller's error types. An error
 *   thrown by `jobs` itself surfaces after the results of the jobs before it.
 * - **Early exit.** When the consumer stops (`break`, `return`, a throw in
 *   the loop), an error surfaces or `options.signal` aborts, no job starts
 *   any more, the `signal` handed to `fn` aborts, and the iterator settles
 *   only after every call in flight has settled, so nothing outlives the
 *   loop. A call that ignores its signal delays that exit until it is done.
 *
 * @param jobs the inputs, pulled lazily and at most `window` ahead
 * @param fn the work for one job; `signal` aborts when the iteration ends early
 * @param options the window and an abort signal
 * @returns the results, in the order of `jobs`
 *
 * @example
 * ```ts
 * import { slidingWindow } from "./sliding_window.ts";
 * const sizes = slidingWindow(
 *   ["a", "b", "c"],
 *   (name) => Promise.resolve(name.length),
 *   { window: 8 },
 * );
 * for await (const size of sizes) console.log(size);
 * ```
 */
export function slidingWindow<T, R>(
  jobs: Iterable<T> | AsyncIterable<T>,
  fn: (job: T, index: number, signal: AbortSignal) => Promise<R>,
  options: SlidingWindowOptions,
): AsyncIterableIterator<R> {
  const { window, signal } = options;
  if (!Number.isInteger(window) || window < 1) {
    throw new RangeError(
      `Cannot create a sliding window of ${window}: the window must be a positive integer`,
    );
  }
  return iterate(jobs, fn, { window, signal });
}

async function* iterate<T, R>(
  jobs: Iterable<T> | AsyncIterable<T>,
  fn: (job: T, index: number, signal: AbortSignal) => Promise<R>,
  options: SlidingWindowOptions,
): AsyncGenerator<R, void, undefined> {
  const { window, signal } = options;
  signal?.throwIfAborted();
  const jobsSignal = new AbortController();
  let taken = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  let sourceFailure: { error: unknown } | undefined;

  const stop = () => {
    stopped = true;
    wake?.();
    wake = undefined;
  };
  const onAbort = () => {
    stop();
    jobsSignal.abort(signal?.reason);
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  async function* source(): AsyncGenerator<{ job: T; index: number }> {
    const iterator = Symbol.asyncIterator in jobs
      ? jobs[Symbol.asyncIterator]()
      : jobs[Symbol.iterator]();
    let exhausted = false;
    try {
      for (let index = 0;; index++) {
        while (!stopped && index >= taken + window) {
          await new Promise<void>((resolve) => wake = resolve);
        }
        if (stopped) return;
        const step = await iterator.next();
        if (step.done) {
          exhausted = true;
          return;
        }
        yield { job: step.value, index };
      }
    } catch (error) {
      exhausted = true;
      sourceFailure = { error };
    } finally {
      if (!exhausted) {
        try {
          await iterator.return?.();
        } catch (error) {
          sourceFailure ??= { error };
        }
      }
    }
  }

  async function call(
    { job, index }: { job: T; index: number },
  ): Promise<Outcome<R>> {
    // pooledMap calls a microtask after the source yields; the window may
    // have stopped in between, and then the job must not start at all.
    if (stopped) return { ok: false, error: jobsSignal.signal.reason };
    try {
      return { ok: true, value: await fn(job, index, jobsSignal.signal) };
    } catch (error) {
      stop();
      return { ok: false, error };
    }
  }

  const results = pooledMap(window, source(), call);
  let failure: { error: unknown } | undefined;
  let finished = false;
  try {
    while (true) {
      const step = await results.next();
      if (signal?.aborted) {
        failure = { error: signal.reason };
        break;
      }
      if (step.done) {
        failure = sourceFailure;
        finished = failure === undefined;
        break;
      }
      if (!step.value.ok) {
        failure = { error: step.value.error };
        break;
      }
      taken++;
      wake?.();
      wake = undefined;
      yield step.value.value;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    stop();
    if (!finished && !jobsSignal.signal.aborted) jobsSignal.abort();
    // Reading to the end waits for the calls in flight; cancelling the
    // stream instead would reject pooledMap's unobserved writes.
    while (!(await results.next()).done) {
      // discard results nobody will read
    }
  }
  if (failure) throw failure.error;
}
