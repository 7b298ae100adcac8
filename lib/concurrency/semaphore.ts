/**
 * A named counting semaphore: the building block of every limiter in the
 * process (`storage.chunk`, `storage.file`, `notify.user`, per-user caps).
 *
 * Rules it enforces (DESIGN.md section 4, reference sections 4.3 and 7.2):
 *
 * - **Strict priority, FIFO within a priority.** Every `interactive` waiter
 *   is granted before any `background` waiter, whatever their ages. The
 *   reference asks that interactive work go ahead of precache in every
 *   limiter, so a background waiter can starve while interactive demand
 *   fills the limiter; background callers bound that with `timeoutMs`.
 *   When the queue is full, an interactive request takes the place of the
 *   youngest background waiter, which is rejected with
 *   {@linkcode LimiterFullError}.
 * - **Bounded waiting.** A full queue rejects at once with
 *   {@linkcode LimiterFullError} (503 + `Retry-After`), and `timeoutMs`
 *   turns a long wait into {@linkcode LimiterTimeoutError} (503 too).
 * - **Per-key cap.** With `perKeyCap`, one key (a uid) may have at most that
 *   many permits *held or waited for*; counting the queued requests keeps a
 *   single user from filling the queue as well as the permits. A request
 *   over the cap is rejected at once with {@linkcode PerKeyCapError} (429).
 * - **Release exactly once.** A {@linkcode Permit} is `Disposable`; a second
 *   release is a counted no-op that never returns a second permit.
 * - **A permit holder never waits for a permit of the same limiter**
 *   (reference 7.3): a caller that holds permits passes them as `holding`,
 *   and `acquire()` refuses when one of them belongs to this semaphore.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { HttpError, OverloadedError } from "../http_error.ts";
import type { MetricFamily } from "../metrics.ts";

/** Who is waiting: a user (`interactive`) or speculative work (`background`). */
export type Priority = "interactive" | "background";

/**
 * `Retry-After` of the 503 and 429 answers, in seconds. A permit of these
 * limiters is held for one chunk fetch or one merge, so the queue moves
 * within about a second; a longer hint would idle the client needlessly.
 */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** Options of the {@linkcode Semaphore} constructor. */
export interface SemaphoreOptions {
  /** Permits in all: how many holders may run at once. */
  permits: number;
  /** Most requests that may wait; more are rejected at once. Default `Infinity`. */
  maxWaiting?: number;
  /** Most permits one key may hold or wait for. Default `Infinity`. */
  perKeyCap?: number;
  /** `Retry-After` of the errors this semaphore throws. Default {@linkcode DEFAULT_RETRY_AFTER_SECONDS}. */
  retryAfterSeconds?: number;
  /** Source of time for waits and timeouts. Default {@linkcode systemClock}. */
  clock?: Clock;
}

/** Options of {@linkcode Semaphore.prototype.acquire}. */
export interface AcquireOptions {
  /** Stops waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Longest wait in ms before rejecting with {@linkcode LimiterTimeoutError}. Default: no limit. */
  timeoutMs?: number;
  /** Queue to wait in. Default `"interactive"`. */
  priority?: Priority;
  /** The key the per-key cap counts against, e.g. a uid. */
  key?: string;
  /**
   * Permits the caller holds. If one of them is an unreleased permit of this
   * semaphore, `acquire()` rejects instead of risking a self-deadlock.
   */
  holding?: Iterable<Permit>;
}

/** Options of {@linkcode Semaphore.prototype.tryAcquire}. */
export interface TryAcquireOptions {
  /** The key the per-key cap counts against, e.g. a uid. */
  key?: string;
}

/**
 * One permit of a {@linkcode Semaphore}. Release it exactly once, best with
 * `using permit = await semaphore.acquire()`.
 */
export interface Permit extends Disposable {
  /** The semaphore that granted this permit. */
  readonly semaphore: Semaphore;
  /** The key the permit counts against, if any. */
  readonly key: string | undefined;
  /** The priority it was requested with. */
  readonly priority: Priority;
  /** Whether the permit went back already. */
  readonly released: boolean;
  /** Returns the permit; a second call is a no-op (counted, never thrown). */
  release(): void;
}

/** 503: the limiter's queue is full, so the request was not queued. */
export class LimiterFullError extends OverloadedError {
  /** The limiter's name. */
  readonly limiter: string;

  /**
   * @param limiter the limiter's name
   * @param options how many were waiting and the `Retry-After` value
   */
  constructor(
    limiter: string,
    options: { waiting: number; retryAfterSeconds?: number },
  ) {
    super(
      `Limiter "${limiter}" is full: ${options.waiting} requests are already waiting`,
      options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
    );
    this.name = "LimiterFullError";
    this.limiter = limiter;
  }
}

/** 503: no permit came within the request's `timeoutMs`. */
export class LimiterTimeoutError extends OverloadedError {
  /** The limiter's name. */
  readonly limiter: string;

  /**
   * @param limiter the limiter's name
   * @param options the wait that ran out and the `Retry-After` value
   */
  constructor(
    limiter: string,
    options: { timeoutMs: number; retryAfterSeconds?: number },
  ) {
    super(
      `Limiter "${limiter}" gave no permit within ${options.timeoutMs} ms`,
      options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
    );
    this.name = "LimiterTimeoutError";
    this.limiter = limiter;
  }
}

/** 429: one key (a user) already holds or waits for its share of a limiter. */
export class PerKeyCapError extends HttpError {
  /** The limiter's name. */
  readonly limiter: string;
  /** The key that is over its cap. */
  readonly key: string;

  /**
   * @param limiter the limiter's name
   * @param options the key, its cap and the `Retry-After` value
   */
  constructor(
    limiter: string,
    options: { key: string; cap: number; retryAfterSeconds?: number },
  ) {
    super(
      429,
      `Limiter "${limiter}" allows at most ${options.cap} concurrent requests per user`,
      {
        headers: {
          "Retry-After": String(
            options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
          ),
        },
      },
    );
    this.name = "PerKeyCapError";
    this.limiter = limiter;
    this.key = options.key;
  }
}

interface Waiter {
  readonly priority: Priority;
  readonly key: string | undefined;
  /** `clock.now()` when it was queued. */
  readonly since: number;
  settled: boolean;
  resolve(permit: Permit): void;
  reject(reason: unknown): void;
  /** Removes the abort listener and cancels the timeout timer. */
  cleanup(): void;
}

interface PermitOwner {
  release(permit: Permit): void;
  releasedTwice(): void;
}

class SemaphorePermit implements Permit {
  readonly semaphore: Semaphore;
  readonly key: string | undefined;
  readonly priority: Priority;
  #owner: PermitOwner;
  #released = false;

  constructor(
    semaphore: Semaphore,
    owner: PermitOwner,
    request: { key: string | undefined; priority: Priority },
  ) {
    this.semaphore = semaphore;
    this.#owner = owner;
    this.key = request.key;
    this.priority = request.priority;
  }

  get released(): boolean {
    return this.#released;
  }

  release(): void {
    if (this.#released) {
      this.#owner.releasedTwice();
      return;
    }
    this.#released = true;
    this.#owner.release(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * A named counting semaphore with FIFO queues per priority, a bounded queue,
 * timeouts, abort signals, a per-key cap and metrics.
 *
 * @example
 * ```ts
 * import { Semaphore } from "./semaphore.ts";
 * const chunks = new Semaphore("storage.chunk", { permits: 32 });
 * async function fetchChunk(signal: AbortSignal) {
 *   using _permit = await chunks.acquire({ signal, timeoutMs: 5_000 });
 *   // ... fetch; the permit goes back on return, throw or abort
 * }
 * ```
 */
export class Semaphore {
  readonly #name: string;
  readonly #permits: number;
  readonly #maxWaiting: number;
  readonly #perKeyCap: number;
  readonly #retryAfterSeconds: number;
  readonly #clock: Clock;
  readonly #owner: PermitOwner;
  #held = 0;
  /** Sets keep insertion order, so each is a FIFO with O(1) removal. */
  readonly #queues: Record<Priority, Set<Waiter>> = {
    interactive: new Set(),
    background: new Set(),
  };
  /** Permits held plus requests waiting, per key; absent means 0. */
  readonly #perKey = new Map<string, number>();
  #granted = 0;
  #timedOut = 0;
  #rejectedQueueFull = 0;
  #rejectedPerKeyCap = 0;
  #aborted = 0;
  #releasedTwice = 0;

  /**
   * @param name the limiter's name, used in errors and metric labels
   * @param options permits, queue bound, per-key cap and clock
   */
  constructor(name: string, options: SemaphoreOptions) {
    const {
      permits,
      maxWaiting = Infinity,
      perKeyCap = Infinity,
      retryAfterSeconds = DEFAULT_RETRY_AFTER_SECONDS,
      clock = systemClock,
    } = options;
    if (!Number.isInteger(permits) || permits < 1) {
      throw new RangeError(
        `Cannot create limiter "${name}": permits must be a positive integer, got ${permits}`,
      );
    }
    if (!isCount(maxWaiting, 0)) {
      throw new RangeError(
        `Cannot create limiter "${name}": maxWaiting must be a non-negative integer or Infinity, got ${maxWaiting}`,
      );
    }
    if (!isCount(perKeyCap, 1)) {
      throw new RangeError(
        `Cannot create limiter "${name}": perKeyCap must be a positive integer or Infinity, got ${perKeyCap}`,
      );
    }
    this.#name = name;
    this.#permits = permits;
    this.#maxWaiting = maxWaiting;
    this.#perKeyCap = perKeyCap;
    this.#retryAfterSeconds = retryAfterSeconds;
    this.#clock = clock;
    this.#owner = {
      release: (permit) => this.#release(permit),
      releasedTwice: () => this.#releasedTwice++,
    };
  }

  /** The limiter's name. */
  get name(): string {
    return this.#name;
  }

  /** Permits in all. */
  get permits(): number {
    return this.#permits;
  }

  /** Permits held right now. */
  get inFlight(): number {
    return this.#held;
  }

  /** Permits free right now. */
  get available(): number {
    return this.#permits - this.#held;
  }

  /** Requests queued right now, both priorities. */
  get waiting(): number {
    return this.#queues.interactive.size + this.#queues.background.size;
  }

  /** Requests queued right now at one priority. */
  waitingAt(priority: Priority): number {
    return this.#queues[priority].size;
  }

  /** Age in ms of the oldest request still waiting; 0 when none waits. */
  get longestWaitMs(): number {
    let oldest = Infinity;
    for (const queue of Object.values(this.#queues)) {
      const first = firstOf(queue);
      if (first && first.since < oldest) oldest = first.since;
    }
    return oldest === Infinity ? 0 : Math.max(0, this.#clock.now() - oldest);
  }

  /** Permits handed out since creation. */
  get granted(): number {
    return this.#granted;
  }

  /** Waits that ran out of `timeoutMs`. */
  get timedOut(): number {
    return this.#timedOut;
  }

  /** Requests refused because the queue was full or a key was over its cap. */
  get rejected(): number {
    return this.#rejectedQueueFull + this.#rejectedPerKeyCap;
  }

  /** Requests whose signal aborted before they got a permit. */
  get aborted(): number {
    return this.#aborted;
  }

  /** Second releases of a permit, ignored. Non-zero means a caller bug. */
  get releasedTwice(): number {
    return this.#releasedTwice;
  }

  /** Permits held plus requests waiting for one key. */
  countFor(key: string): number {
    return this.#perKey.get(key) ?? 0;
  }

  /**
   * Waits for a permit.
   *
   * Rejects at once with the signal's reason if it is already aborted, with
   * {@linkcode PerKeyCapError} when `key` is at its cap, and with
   * {@linkcode LimiterFullError} when the queue is full; later with
   * {@linkcode LimiterTimeoutError} or the signal's reason.
   */
  acquire(options: AcquireOptions = {}): Promise<Permit> {
    const { signal, timeoutMs, priority = "interactive", key } = options;
    if (options.holding) {
      for (const held of options.holding) {
        if (held.semaphore === this && !held.released) {
          return Promise.reject(
            new Error(
              `Cannot acquire a permit of limiter "${this.#name}": the caller holds one already, and a permit holder must never wait for a permit of the same limiter`,
            ),
          );
        }
      }
    }
    if (signal?.aborted) {
      this.#aborted++;
      return Promise.reject(signal.reason);
    }
    if (key !== undefined && this.countFor(key) >= this.#perKeyCap) {
      this.#rejectedPerKeyCap++;
      return Promise.reject(
        new PerKeyCapError(this.#name, {
          key,
          cap: this.#perKeyCap,
          retryAfterSeconds: this.#retryAfterSeconds,
        }),
      );
    }
    const permit = this.tryAcquire({ key });
    if (permit) return Promise.resolve(permit);
    if (timeoutMs !== undefined && timeoutMs <= 0) {
      this.#timedOut++;
      return Promise.reject(this.#timeoutError(timeoutMs));
    }
    if (this.waiting >= this.#maxWaiting && !this.#evictFor(priority)) {
      this.#rejectedQueueFull++;
      return Promise.reject(this.#fullError());
    }
    return this.#enqueue({ signal, timeoutMs, priority, key });
  }

  /**
   * Takes a permit if one is free and nobody is waiting; `null` otherwise,
   * also when `key` is at its per-key cap.
   */
  tryAcquire(options: TryAcquireOptions = {}): Permit | null {
    const { key } = options;
    if (key !== undefined && this.countFor(key) >= this.#perKeyCap) return null;
    if (this.#held >= this.#permits || this.waiting > 0) return null;
    this.#adjustKey(key, +1);
    return this.#grant(key, "interactive");
  }

  /**
   * Metric families of this limiter, labelled `limiter="<name>"`, for a
   * {@linkcode MetricsRegistry} collector.
   */
  collect(): MetricFamily[] {
    const limiter = this.#name;
    const labels = { limiter };
    return [
      gauge("audiosync_limiter_permits", "Permits of the limiter in all", [
        { labels, value: this.#permits },
      ]),
      gauge("audiosync_limiter_in_flight", "Permits held right now", [
        { labels, value: this.#held },
      ]),
      gauge("audiosync_limiter_waiting", "Requests waiting for a permit", [
        {
          labels: { limiter, priority: "interactive" },
          value: this.#queues.interactive.size,
        },
        {
          labels: { limiter, priority: "background" },
          value: this.#queues.background.size,
        },
      ]),
      gauge(
        "audiosync_limiter_longest_wait_seconds",
        "Age of the oldest request still waiting",
        [{ labels, value: this.longestWaitMs / 1000 }],
      ),
      counter("audiosync_limiter_granted_total", "Permits handed out", [
        { labels, value: this.#granted },
      ]),
      counter(
        "audiosync_limiter_rejected_total",
        "Requests refused without waiting",
        [
          {
            labels: { limiter, reason: "queue_full" },
            value: this.#rejectedQueueFull,
          },
          {
            labels: { limiter, reason: "per_key_cap" },
            value: this.#rejectedPerKeyCap,
          },
        ],
      ),
      counter(
        "audiosync_limiter_timed_out_total",
        "Waits that ran out of time",
        [{ labels, value: this.#timedOut }],
      ),
      counter(
        "audiosync_limiter_aborted_total",
        "Waits abandoned through an abort signal",
        [{ labels, value: this.#aborted }],
      ),
      counter(
        "audiosync_limiter_released_twice_total",
        "Ignored second releases of a permit (a caller bug)",
        [{ labels, value: this.#releasedTwice }],
      ),
    ];
  }

  #enqueue(request: {
    signal: AbortSignal | undefined;
    timeoutMs: number | undefined;
    priority: Priority;
    key: string | undefined;
  }): Promise<Permit> {
    const { signal, timeoutMs, priority, key } = request;
    const { promise, resolve, reject } = Promise.withResolvers<Permit>();
    const timer = timeoutMs === undefined || timeoutMs === Infinity
      ? undefined
      : new AbortController();
    const waiter: Waiter = {
      priority,
      key,
      since: this.#clock.now(),
      settled: false,
      resolve,
      reject,
      cleanup() {
        signal?.removeEventListener("abort", onAbort);
        timer?.abort();
      },
    };
    const onAbort = () => {
      if (this.#abandon(waiter, signal?.reason)) this.#aborted++;
    };
    this.#queues[priority].add(waiter);
    this.#adjustKey(key, +1);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timer && timeoutMs !== undefined) {
      this.#clock.sleep(timeoutMs, timer.signal).then(() => {
        if (this.#abandon(waiter, this.#timeoutError(timeoutMs))) {
          this.#timedOut++;
        }
      }, ignore);
    }
    return promise;
  }

  /** Rejects a waiter that is still queued; false when it settled already. */
  #abandon(waiter: Waiter, reason: unknown): boolean {
    if (waiter.settled) return false;
    waiter.settled = true;
    waiter.cleanup();
    this.#queues[waiter.priority].delete(waiter);
    this.#adjustKey(waiter.key, -1);
    waiter.reject(reason);
    return true;
  }

  /** Makes room for an interactive request by rejecting the youngest background waiter. */
  #evictFor(priority: Priority): boolean {
    if (priority !== "interactive") return false;
    let youngest: Waiter | undefined;
    for (const waiter of this.#queues.background) youngest = waiter;
    if (!youngest) return false;
    this.#rejectedQueueFull++;
    return this.#abandon(youngest, this.#fullError());
  }

  #grant(key: string | undefined, priority: Priority): Permit {
    this.#held++;
    this.#granted++;
    return new SemaphorePermit(this, this.#owner, { key, priority });
  }

  #release(permit: Permit): void {
    this.#held--;
    this.#adjustKey(permit.key, -1);
    this.#handOver();
  }

  /** Gives free permits to waiters, interactive ones first. */
  #handOver(): void {
    while (this.#held < this.#permits) {
      const waiter = firstOf(this.#queues.interactive) ??
        firstOf(this.#queues.background);
      if (!waiter) return;
      this.#queues[waiter.priority].delete(waiter);
      // A waiter that settled (aborted or timed out) is never granted, so
      // its permit goes to the next one instead of leaking.
      if (waiter.settled) continue;
      waiter.settled = true;
      waiter.cleanup();
      waiter.resolve(this.#grant(waiter.key, waiter.priority));
    }
  }

  #adjustKey(key: string | undefined, delta: number): void {
    if (key === undefined) return;
    const count = (this.#perKey.get(key) ?? 0) + delta;
    if (count > 0) this.#perKey.set(key, count);
    else this.#perKey.delete(key);
  }

  #fullError(): LimiterFullError {
    return new LimiterFullError(this.#name, {
      waiting: this.waiting,
      retryAfterSeconds: this.#retryAfterSeconds,
    });
  }

  #timeoutError(timeoutMs: number): LimiterTimeoutError {
    return new LimiterTimeoutError(this.#name, {
      timeoutMs,
      retryAfterSeconds: this.#retryAfterSeconds,
    });
  }
}

function isCount(value: number, min: number): boolean {
  return value === Infinity || (Number.isInteger(value) && value >= min);
}

function firstOf<T>(set: Set<T>): T | undefined {
  for (const item of set) return item;
  return undefined;
}

function ignore(): void {}

function gauge(
  name: string,
  help: string,
  samples: MetricFamily["samples"],
): MetricFamily {
  return { name, help, type: "gauge", samples };
}

function counter(
  name: string,
  help: string,
  samples: MetricFamily["samples"],
): MetricFamily {
  return { name, help, type: "counter", samples };
}
