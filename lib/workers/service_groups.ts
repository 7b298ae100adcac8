/**
 * The service's two worker groups, built from the real entry modules.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { createWorkerGroups, type WorkerGroups } from "./groups.ts";
import type { WorkerGroupMode } from "./worker_group.ts";

/**
 * Starts the `storage` and `sync` groups; workers spawn on first use. Where
 * `Worker` does not exist (Deno Deploy), the tasks run on the main isolate
 * behind the same interface.
 *
 * @param sizes workers per group
 * @param options clock and an explicit mode for tests
 */
export function createServiceWorkerGroups(
  sizes: { storage: number; sync: number },
  options: { clock?: Clock; mode?: WorkerGroupMode } = {},
): WorkerGroups {
  return createWorkerGroups({
    storageEntry: new URL("./storage_entry.ts", import.meta.url),
    storageTasks: () =>
      import("./storage_tasks.ts").then((m) => m.storageTasks),
    syncEntry: new URL("./sync_entry.ts", import.meta.url),
    syncTasks: () => import("./sync_tasks.ts").then((m) => m.syncTasks),
    storageSize: sizes.storage,
    syncSize: sizes.sync,
    mode: options.mode ??
      (typeof globalThis.Worker === "function" ? "workers" : "inline"),
    clock: options.clock,
  });
}
