/**
 * Single flight: concurrent callers asking for the same key share one
 * execution. The merge of one audio file runs once however many callers
 * (conversation processing, `/precache`, `/urls`, downloads) want it at the
 * same time (reference 4.3: "One in-flight merge per
 * `merged/{uid}/{cid}/{fid}`; later callers join it").
 *
 * @module
 */

/** Options of {@linkcode SingleFlight.prototype.run}. */
export interface SingleFlightRunOptions {
  /**
   * Stops this caller's wait. The shared work is cancelled only when every
   * caller that joined it has aborted.
   */
  signal?: AbortSignal;
}

interface Flight<V> {
  readonly promise: Promise<V>;
  readonly controller: AbortController;
  /** Callers with a signal that are still waiting. */
  waiting: number;
  /** Set when a caller without a signal joined: nothing can cancel the work then. */
  pinned: boolean;
}

/**
 * Runs at most one execution per key at a time and shares its outcome with
 * every caller that asks for the key while it runs.
 *
 * - The entry goes away when the execution settles, on success and on
 *   failure alike, so a later call starts anew; a failure is not cached.
 * - Every caller gets the same value, or the same error.
 * - A caller whose own signal aborts rejects at once with its reason; the
 *   shared work goes on for the others. When every caller that joined has
 *   aborted, and none joined without a signal, the signal handed to `fn`
 *   aborts (with the last caller's reason) and the entry is dropped at once,
 *   so a new caller starts a fresh execution instead of joining one that is
 *   being cancelled.
 *
 * @example
 * ```ts
 * import { SingleFlight } from "./single_flight.ts";
 * const merges = new SingleFlight<string, Uint8Array>();
 * const merge = () => Promise.resolve(new Uint8Array(44));
 * const [a, b] = await Promise.all([
 *   merges.run("merged/u/c/f.wav", merge),
 *   merges.run("merged/u/c/f.wav", merge),
 * ]);
 * console.log(a === b); // true: one execution
 * ```
 */
export class SingleFlight<K, V> {
  readonly #flights = new Map<K, Flight<V>>();

  /** Executions running right now. */
  get inFlight(): number {
    return this.#flights.size;
  }

  /** Whether an execution for `key` is running and can be joined. */
  has(key: K): boolean {
    return this.#flights.has(key);
  }

  /**
   * Joins the execution for `key`, or starts `fn` when none runs.
   *
   * @param key what the execution produces, e.g. the cache object's name
   * @param fn the work; its signal aborts when every caller has given up
   * @param options this caller's abort signal
   * @returns the shared execution's value
   */
  run(
    key: K,
    fn: (signal: AbortSignal) => Promise<V>,
    options: SingleFlightRunOptions = {},
  ): Promise<V> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const flight = this.#flights.get(key) ?? this.#start(key, fn);
    if (!signal) {
      flight.pinned = true;
      return flight.promise;
    }
    return this.#join(key, flight, signal);
  }

  #start(key: K, fn: (signal: AbortSignal) => Promise<V>): Flight<V> {
    const controller = new AbortController();
    const { promise, resolve, reject } = Promise.withResolvers<V>();
    const flight: Flight<V> = {
      promise,
      controller,
      waiting: 0,
      pinned: false,
    };
    this.#flights.set(key, flight);
    const forget = () => this.#forget(key, flight);
    promise.then(forget, forget);
    try {
      fn(controller.signal).then(resolve, reject);
    } catch (error) {
      reject(error);
    }
    return flight;
  }

  #join(key: K, flight: Flight<V>, signal: AbortSignal): Promise<V> {
    flight.waiting++;
    return new Promise<V>((resolve, reject) => {
      const onAbort = () => {
        flight.waiting--;
        reject(signal.reason);
        if (flight.waiting === 0 && !flight.pinned) {
          this.#forget(key, flight);
          flight.controller.abort(signal.reason);
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          resolve(value);
        },
        (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      );
    });
  }

  #forget(key: K, flight: Flight<V>): void {
    if (this.#flights.get(key) === flight) this.#flights.delete(key);
  }
}
