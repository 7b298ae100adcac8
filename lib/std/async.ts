/**
 * Typed entry point for `@std/async`.
 *
 * The machines this project builds on reach only the npm registry, so the
 * Deno standard library comes from the npm package `deno-std`, a plain-JS
 * republish without type declarations. Each export here is re-declared by
 * hand so that `deno check` still rejects a wrong argument. Switching to JSR
 * is one line in `deno.json`: map `@std/async` to `jsr:@std/async@1` and
 * delete this file.
 *
 * Only single files are imported: `async/mod.js` of deno-std 1.4.0 has a
 * broken relative import (`../data-structures/deque.js`).
 *
 * @module
 */
import { pooledMap as pooledMapJs } from "deno-std/async/pool.js";
import { delay as delayJs } from "deno-std/async/delay.js";
import { deadline as deadlineJs } from "deno-std/async/deadline.js";
import { abortable as abortableJs } from "deno-std/async/abortable.js";
import {
  retry as retryJs,
  RetryError as RetryErrorJs,
} from "deno-std/async/retry.js";

/** Options of {@linkcode delay}. */
export interface DelayOptions {
  /** Abort the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Let the process exit while this timer is pending. Default `true`. */
  persistent?: boolean;
}

/** Options of {@linkcode deadline}. */
export interface DeadlineOptions {
  /** Abort the wait early. */
  signal?: AbortSignal;
}

/** Options of {@linkcode retry}. */
export interface RetryOptions {
  /** Backoff multiplier between attempts. Default 2. */
  multiplier?: number;
  /** Longest wait between attempts, in ms. Default 60 000. */
  maxTimeout?: number;
  /** Number of attempts in all, the first included. Default 5. */
  maxAttempts?: number;
  /** First wait, in ms. Default 1 000. */
  minTimeout?: number;
  /** Share of each wait that is random, from 0 to 1. Default 1. */
  jitter?: number;
  /** Stops retrying and the waits between attempts. */
  signal?: AbortSignal;
  /** Whether an error is worth another attempt. Default: every error. */
  isRetriable?: (err: unknown) => boolean;
}

/**
 * Maps an (async) iterable through `iteratorFn` with at most `poolLimit`
 * calls in flight, yielding results in input order.
 *
 * It applies no backpressure to its source: it pulls the next input as soon
 * as a slot frees, whether or not the consumer has read the results.
 *
 * @example
 * ```ts
 * import { pooledMap } from "@std/async";
 * const doubled = pooledMap(2, [1, 2, 3], (n) => Promise.resolve(n * 2));
 * console.log(await Array.fromAsync(doubled)); // [2, 4, 6]
 * ```
 */
export function pooledMap<T, R>(
  poolLimit: number,
  array: Iterable<T> | AsyncIterable<T>,
  iteratorFn: (data: T) => Promise<R>,
): AsyncIterableIterator<R> {
  return pooledMapJs(poolLimit, array, iteratorFn);
}

/** Resolves after `ms` milliseconds, or rejects when `options.signal` aborts. */
export function delay(ms: number, options?: DelayOptions): Promise<void> {
  return delayJs(ms, options);
}

/** Resolves like `p`, or rejects with a `DOMException` named `TimeoutError` after `ms`. */
export function deadline<T>(
  p: Promise<T>,
  ms: number,
  options?: DeadlineOptions,
): Promise<T> {
  return deadlineJs(p, ms, options);
}

/** Resolves like `p`, or rejects with the signal's reason when it aborts first. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return abortableJs(p, signal);
}

/**
 * Calls `fn` until it resolves, with exponential backoff between attempts,
 * and throws a {@linkcode RetryError} after `maxAttempts` failures.
 */
export function retry<T>(
  fn: () => Promise<T> | T,
  options?: RetryOptions,
): Promise<T> {
  return retryJs(fn, options);
}

/** Thrown by {@linkcode retry} when every attempt failed; `cause` is the last error. */
export const RetryError: new (cause: unknown, attempts: number) => Error =
  RetryErrorJs;
