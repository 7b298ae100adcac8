/**
 * The worker side of a worker group: a task module exports a
 * {@linkcode TaskTable}, and a tiny worker entry file serves it.
 *
 * @example
 * ```ts ignore
 * // lib/workers/storage_worker.ts
 * import { serveTasks } from "./task_host.ts";
 * import { storageTasks } from "./storage_tasks.ts";
 * serveTasks(storageTasks);
 * ```
 *
 * A worker runs one task at a time (the group never sends a second one
 * before the first has answered), so a handler may block its thread.
 *
 * @module
 */
import {
  deserializeError,
  type SerializedError,
  serializeError,
} from "./_errors.ts";
import {
  type FromWorker,
  normalizeResult,
  type TaskPriority,
  type ToWorker,
} from "./_protocol.ts";

export type { TaskPriority } from "./_protocol.ts";

/** Options of {@linkcode TaskContext.submit}. */
export interface SubmitOptions {
  /** Cancels the submitted task; the task's own signal always does. */
  signal?: AbortSignal;
  /** ArrayBuffers (and other transferables) in `payload` to move, not copy. */
  transfer?: Transferable[];
  /** Overrides the target group's task timeout. */
  timeoutMs?: number;
  /** Default: the priority of the submitting task. */
  priority?: TaskPriority;
}

/** What a handler gets besides its payload. */
export interface TaskContext {
  /** Aborted when the caller cancels the task or the task times out. */
  signal: AbortSignal;
  /**
   * Runs a task on ANOTHER group and resolves with its value. Submitting to
   * the task's own group, or from a leaf group such as `storage`, rejects
   * (see `groups.ts` for the rule that keeps groups deadlock-free).
   */
  submit<R = unknown>(
    group: string,
    task: string,
    payload: unknown,
    options?: SubmitOptions,
  ): Promise<R>;
}

/**
 * A handler's return value: the value itself, or `{ value, transfer }` to
 * move ArrayBuffers back instead of copying them. An object whose only own
 * keys are `value` (and `transfer`) is always read as the second form; wrap
 * such a value once more to return it as is.
 */
export type TaskResult<T = unknown> = T | {
  value: T;
  transfer?: Transferable[];
};

/** One task: payload in, result out. */
// deno-lint-ignore no-explicit-any
export type TaskHandler = (payload: any, ctx: TaskContext) => unknown;

/** The tasks a group can run, by name. */
export type TaskTable = Record<string, TaskHandler>;

/** What a worker's global scope offers that the host needs. */
interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(
    type: "message",
    listener: (event: MessageEvent<ToWorker>) => void,
  ): void;
  addEventListener(type: "unload", listener: () => void): void;
  close(): void;
}

/**
 * Serves `table` to the worker group that started this worker. Call it once,
 * at the top level of a worker entry module.
 */
export function serveTasks(table: TaskTable): void {
  const scope = globalThis as unknown as WorkerScope;
  const running = new Map<number, AbortController>();
  const submissions = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void }
  >();
  let lastSubId = 0;

  function post(message: FromWorker, transfer: Transferable[] = []): void {
    scope.postMessage(message, transfer);
  }

  function submit(
    id: number,
    taskSignal: AbortSignal,
  ): TaskContext["submit"] {
    return function submit<R>(
      group: string,
      task: string,
      payload: unknown,
      options: SubmitOptions = {},
    ): Promise<R> {
      const signal = options.signal
        ? AbortSignal.any([taskSignal, options.signal])
        : taskSignal;
      if (signal.aborted) return Promise.reject(signal.reason);
      const subId = ++lastSubId;
      const { promise, resolve, reject } = Promise.withResolvers<R>();
      function onAbort(): void {
        submissions.delete(subId);
        post({
          type: "submit-cancel",
          subId,
          reason: serializeError(signal.reason),
        });
        reject(signal.reason);
      }
      signal.addEventListener("abort", onAbort, { once: true });
      submissions.set(subId, {
        resolve(value) {
          signal.removeEventListener("abort", onAbort);
          resolve(value as R);
        },
        reject(error) {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      });
      const transfer = options.transfer ?? [];
      post({
        type: "submit",
        id,
        subId,
        group,
        task,
        payload,
        transfer,
        options: { timeoutMs: options.timeoutMs, priority: options.priority },
      }, transfer);
      return promise;
    };
  }

  async function run(id: number, task: string, payload: unknown) {
    const controller = new AbortController();
    running.set(id, controller);
    try {
      const handler = Object.hasOwn(table, task) ? table[task] : undefined;
      if (handler === undefined) {
        throw new Error(`Cannot run task "${task}": no such task`);
      }
      const ctx: TaskContext = {
        signal: controller.signal,
        submit: submit(id, controller.signal),
      };
      const { value, transfer } = normalizeResult(await handler(payload, ctx));
      post({ type: "result", id, ok: true, value, transfer }, transfer);
    } catch (error) {
      // Also reached when the result cannot be cloned (DataCloneError).
      post({ type: "result", id, ok: false, error: serializeError(error) });
    } finally {
      running.delete(id);
    }
  }

  scope.addEventListener("message", (event) => {
    const message = event.data;
    switch (message.type) {
      case "run":
        run(message.id, message.task, message.payload);
        break;
      case "cancel":
        running.get(message.id)?.abort(deserializeError(message.reason));
        break;
      case "submitted": {
        const pending = submissions.get(message.subId);
        if (pending === undefined) break;
        submissions.delete(message.subId);
        if (message.ok) pending.resolve(message.value);
        else pending.reject(deserializeError(message.error as SerializedError));
        break;
      }
    }
  });

  // Neither `self.close()` nor `Deno.exit()` in a worker tells the parent
  // anything, so the host says it is leaving; the parent would otherwise
  // only learn of it at the task's timeout.
  const close = scope.close.bind(scope);
  scope.close = function closeAndTell() {
    post({ type: "exit", how: "self.close()" });
    close();
  };
  scope.addEventListener("unload", () => {
    post({ type: "exit", how: "Deno.exit() or unload" });
  });

  post({ type: "ready" });
}
