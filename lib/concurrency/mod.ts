/**
 * Concurrency primitives of audiosync (DESIGN.md section 4): named
 * semaphores and their per-process registry, the sliding window that bounds
 * a merge's fetches, and single flight for shared executions.
 *
 * @example
 * ```ts
 * import { createDefaultLimiters, slidingWindow } from "./mod.ts";
 * const limiters = createDefaultLimiters();
 * const chunks = limiters.get("storage.chunk");
 * const results = slidingWindow([1, 2, 3], async (n, _index, signal) => {
 *   using _permit = await chunks.acquire({ signal });
 *   return n * 2;
 * }, { window: 8 });
 * console.log(await Array.fromAsync(results)); // [2, 4, 6]
 * ```
 *
 * @module
 */
export * from "./semaphore.ts";
export * from "./limiter_registry.ts";
export * from "./sliding_window.ts";
export * from "./single_flight.ts";
