/**
 * Time, sleeping and randomness come through a `Clock` so that tests can
 * drive them deterministically.
 *
 * @module
 */
import { delay } from "@std/async";

/** The source of time for everything that schedules or stamps. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A random number in [0, 1). */
  random(): number;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, { signal }),
  random: () => Math.random(),
};
