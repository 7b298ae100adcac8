/**
 * Test doubles shared by the notification tests: a clock whose sleeps end
 * only when the test says so, and a counter that resolves a promise when it
 * reaches a value.
 *
 * @module
 */
import type { Clock } from "../clock.ts";

/** A clock at a fixed time whose sleeps resolve only on {@linkcode fireAll}. */
export class ManualClock implements Clock {
  #now: number;
  #sleepers = new Set<{ ms: number; resolve: () => void }>();
  #watchers: { at: number; resolve: () => void }[] = [];

  /** @param now the fixed time, ms since the epoch */
  constructor(now: number) {
    this.#now = now;
  }

  /** The fixed time. */
  now(): number {
    return this.#now;
  }

  /** Moves the time on by `ms` (sleeps are not woken). */
  advance(ms: number): void {
    this.#now += ms;
  }

  /** Pending until {@linkcode fireAll}; rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper = {
        ms,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#sleepers.delete(sleeper);
        this.#notify();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#sleepers.add(sleeper);
    });
  }

  /** Sleeps still pending. */
  get sleeping(): number {
    return this.#sleepers.size;
  }

  /** Resolves once at most `count` sleeps are pending. */
  sleepingAtMost(count: number): Promise<void> {
    if (this.#sleepers.size <= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#watchers.push({ at: count, resolve });
    return promise;
  }

  #notify(): void {
    this.#watchers = this.#watchers.filter((w) => {
      if (this.#sleepers.size > w.at) return true;
      w.resolve();
      return false;
    });
  }

  /** Ends every pending sleep. */
  fireAll(): void {
    const sleepers = [...this.#sleepers];
    this.#sleepers.clear();
    this.#notify();
    for (const sleeper of sleepers) sleeper.resolve();
  }

  /** Deterministic "random" numbers are not needed here. */
  random(): number {
    return 0.5;
  }
}

/** Counts events and lets a test wait until the count reaches a value. */
export class Counter {
  #count = 0;
  #waiters: { at: number; resolve: () => void }[] = [];

  /** The count so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds one and wakes the waiters whose value is reached. */
  increment(): void {
    this.#count++;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#count < w.at) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once the count is at least `at`. */
  reached(at: number): Promise<void> {
    if (this.#count >= at) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ at, resolve });
    return promise;
  }
}

/**
 * Lets every pending microtask and I/O callback run. Used only to show that
 * something did not happen; all work under test is promise-driven, so no
 * timing is assumed.
 */
export function drain(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A request a {@linkcode stubServer} received. */
export interface StubRequest {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/**
 * An HTTP server on 127.0.0.1 at a free port that records requests and
 * answers with `respond`. Dispose it with `await using`.
 */
export function stubServer(
  respond: (request: StubRequest) => Response | Promise<Response>,
): AsyncDisposable & { url: string; requests: StubRequest[] } {
  const requests: StubRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const recorded = {
        method: req.method,
        path: url.pathname,
        headers: req.headers,
        body: await req.text(),
      };
      requests.push(recorded);
      return await respond(recorded);
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
