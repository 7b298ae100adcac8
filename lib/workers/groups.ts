/**
 * The process's worker groups and the rule that keeps them deadlock-free.
 *
 * THE RULE: a task never waits for a task of its own group, and waiting
 * between groups only goes down an acyclic "may wait on" graph:
 *
 * | group     | may wait on | runs                                          |
 * |-----------|-------------|-----------------------------------------------|
 * | `storage` | nothing     | leaf tasks: decode chunk, encode opus, WAV    |
 * | `sync`    | `storage`   | device files, VAD, precache coordination      |
 *
 * Why: a parent that blocks on children queued in its own pool deadlocks as
 * soon as every worker of the pool is such a parent (the children queue
 * behind their own parents forever; reference section 7.3). With the graph
 * above, `storage` tasks never wait, so `storage` always makes progress, so
 * every `sync` task's children finish, so `sync` makes progress too.
 *
 * How it is enforced: `ctx.submit(group, ...)` inside a task is routed
 * through the main isolate by {@linkcode WorkerGroups}, which rejects a
 * submission to the task's own group with `SameGroupSubmitError` and any
 * other submission outside the graph (every submission from `storage`)
 * with `SubmitNotAllowedError`, at once, instead of letting it wait. The
 * graph is checked for cycles when the groups are built.
 *
 * @module
 */
import type { MetricFamily } from "../metrics.ts";
import type { Clock } from "../clock.ts";
import { SameGroupSubmitError, SubmitNotAllowedError } from "./_errors.ts";
import type { Transferring } from "./_protocol.ts";
import type { TaskTable } from "./task_host.ts";
import {
  type CloseOptions,
  type RunOptions,
  type SubmitRequest,
  WorkerGroup,
  type WorkerGroupMode,
} from "./worker_group.ts";

/** Which groups a task of each group may submit to and wait on. */
export const MAY_WAIT_ON: Readonly<Record<string, readonly string[]>> = {
  storage: [],
  sync: ["storage"],
};

/**
 * Tasks that may wait for a worker, per group. 256: the original backend's
 * storage queue peaked at 844 behind 96 threads (reference 7.1), which meant
 * minutes of wait; past a few hundred tasks a caller is better served by a
 * 503 and a retry.
 */
export const DEFAULT_MAX_QUEUED = 256;

/**
 * Default timeout of a `storage` task: 60 s, far above the 0.7 s that
 * opus-encoding 60 s of audio takes (DESIGN.md section 2).
 */
export const DEFAULT_STORAGE_TASK_TIMEOUT_MS = 60_000;

/**
 * Default timeout of a `sync` task: 10 min. Its tasks coordinate many
 * storage tasks; the original's pipelines held a worker 60–300 s
 * (reference 7.1).
 */
export const DEFAULT_SYNC_TASK_TIMEOUT_MS = 600_000;

/** One group of {@linkcode WorkerGroups}. */
export interface GroupDefinition {
  name: string;
  size: number;
  entry: URL;
  tasks: () => Promise<TaskTable>;
  maxQueued: number;
  taskTimeoutMs?: number;
}

/** Options of the {@linkcode WorkerGroups} constructor. */
export interface WorkerGroupsOptions {
  /** Which groups each group's tasks may wait on; must be acyclic. */
  mayWaitOn: Readonly<Record<string, readonly string[]>>;
  mode?: WorkerGroupMode;
  clock?: Clock;
}

/** The named worker groups of a process, wired to submit to each other. */
export class WorkerGroups {
  #groups = new Map<string, WorkerGroup>();
  #mayWaitOn: Readonly<Record<string, readonly string[]>>;

  /**
   * @param groups the groups to build
   * @param options the "may wait on" graph, mode and clock for every group
   */
  constructor(groups: GroupDefinition[], options: WorkerGroupsOptions) {
    this.#mayWaitOn = options.mayWaitOn;
    checkAcyclic(
      groups.map((group) => group.name),
      options.mayWaitOn,
    );
    for (const definition of groups) {
      this.#groups.set(
        definition.name,
        new WorkerGroup({
          ...definition,
          mode: options.mode,
          clock: options.clock,
          router: (request) => this.#route(request),
        }),
      );
    }
  }

  /** The group called `name`; throws when there is none. */
  get(name: string): WorkerGroup {
    const group = this.#groups.get(name);
    if (group === undefined) {
      throw new RangeError(`Cannot find worker group "${name}": no such group`);
    }
    return group;
  }

  /** Runs `task` on group `group`; see {@linkcode WorkerGroup.run}. */
  run<R = unknown>(
    group: string,
    task: string,
    payload: unknown,
    options?: RunOptions,
  ): Promise<R> {
    return this.get(group).run<R>(task, payload, options);
  }

  /** Every group's metrics. */
  collect(): MetricFamily[] {
    const byName = new Map<string, MetricFamily>();
    for (const group of this.#groups.values()) {
      for (const family of group.collect()) {
        const known = byName.get(family.name);
        if (known) known.samples.push(...family.samples);
        else byName.set(family.name, family);
      }
    }
    return [...byName.values()];
  }

  /** Closes every group; see {@linkcode WorkerGroup.close}. */
  async close(options?: CloseOptions): Promise<void> {
    await Promise.all(
      [...this.#groups.values()].map((group) => group.close(options)),
    );
  }

  #route(request: SubmitRequest): Promise<Transferring> {
    const { from, group, task } = request;
    if (group === from) {
      return Promise.reject(
        new SameGroupSubmitError(
          `Cannot submit task "${task}" to worker group "${group}" from a task of the same group: a task never waits for a task of its own group`,
        ),
      );
    }
    if (!(this.#mayWaitOn[from] ?? []).includes(group)) {
      const allowed = this.#mayWaitOn[from] ?? [];
      return Promise.reject(
        new SubmitNotAllowedError(
          `Cannot submit task "${task}" to worker group "${group}" from worker group "${from}": ${
            allowed.length === 0
              ? `"${from}" runs leaf tasks only and never waits on another task`
              : `"${from}" may only wait on ${
                allowed.map((name) => `"${name}"`).join(", ")
              }`
          }`,
        ),
      );
    }
    const target = this.#groups.get(group);
    if (target === undefined) {
      return Promise.reject(
        new RangeError(
          `Cannot submit task "${task}" to worker group "${group}": no such group`,
        ),
      );
    }
    return target.runTransferring(task, request.payload, request.options);
  }
}

/** Options of {@linkcode createWorkerGroups}. */
export interface CreateWorkerGroupsOptions {
  /** Worker module of the `storage` group (calls `serveTasks`). */
  storageEntry: URL;
  /** The `storage` task table, for inline mode. */
  storageTasks: () => Promise<TaskTable>;
  /** Worker module of the `sync` group. */
  syncEntry: URL;
  /** The `sync` task table, for inline mode. */
  syncTasks: () => Promise<TaskTable>;
  /** Default `navigator.hardwareConcurrency`. */
  storageSize?: number;
  /** Default `navigator.hardwareConcurrency`. */
  syncSize?: number;
  /** Per group. Default {@linkcode DEFAULT_MAX_QUEUED}. */
  maxQueued?: number;
  /** Default {@linkcode DEFAULT_STORAGE_TASK_TIMEOUT_MS}. */
  storageTaskTimeoutMs?: number;
  /** Default {@linkcode DEFAULT_SYNC_TASK_TIMEOUT_MS}. */
  syncTaskTimeoutMs?: number;
  /** Default: `workers` when `Worker` exists, else `inline`. */
  mode?: WorkerGroupMode;
  clock?: Clock;
}

/**
 * Builds the `storage` and `sync` groups under {@linkcode MAY_WAIT_ON}.
 *
 * @example
 * ```ts ignore
 * import { createWorkerGroups } from "./groups.ts";
 * const workers = createWorkerGroups({
 *   storageEntry: new URL("./storage_worker.ts", import.meta.url),
 *   storageTasks: () => import("./storage_tasks.ts").then((m) => m.storageTasks),
 *   syncEntry: new URL("./sync_worker.ts", import.meta.url),
 *   syncTasks: () => import("./sync_tasks.ts").then((m) => m.syncTasks),
 * });
 * await workers.run("storage", "decodeChunk", { bytes }, { transfer: [bytes] });
 * await workers.close();
 * ```
 */
export function createWorkerGroups(
  options: CreateWorkerGroupsOptions,
): WorkerGroups {
  const cores = navigator.hardwareConcurrency;
  const maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  return new WorkerGroups([
    {
      name: "storage",
      size: options.storageSize ?? cores,
      entry: options.storageEntry,
      tasks: options.storageTasks,
      maxQueued,
      taskTimeoutMs: options.storageTaskTimeoutMs ??
        DEFAULT_STORAGE_TASK_TIMEOUT_MS,
    },
    {
      name: "sync",
      size: options.syncSize ?? cores,
      entry: options.syncEntry,
      tasks: options.syncTasks,
      maxQueued,
      taskTimeoutMs: options.syncTaskTimeoutMs ?? DEFAULT_SYNC_TASK_TIMEOUT_MS,
    },
  ], { mayWaitOn: MAY_WAIT_ON, mode: options.mode, clock: options.clock });
}

function checkAcyclic(
  names: string[],
  mayWaitOn: Readonly<Record<string, readonly string[]>>,
): void {
  const state = new Map<string, "visiting" | "done">();
  function visit(name: string, path: string[]): void {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      throw new RangeError(
        `Cannot build worker groups: ${
          [...path, name].join(" -> ")
        } waits in a cycle, which can deadlock`,
      );
    }
    state.set(name, "visiting");
    for (const next of mayWaitOn[name] ?? []) {
      if (!names.includes(next)) {
        throw new RangeError(
          `Cannot build worker groups: "${name}" may wait on "${next}", which is not a group`,
        );
      }
      visit(next, [...path, name]);
    }
    state.set(name, "done");
  }
  for (const name of names) visit(name, []);
}
