/**
 * A fixed pool of module Web Workers that run the tasks of one task table,
 * with a bounded queue, cancellation, per-task timeouts, crash recovery,
 * ArrayBuffer transfer both ways and metrics. Without a `Worker` global the
 * same table runs on the main isolate behind the same interface.
 *
 * Workers start lazily, one per task that finds no idle worker, up to
 * `size`; {@linkcode WorkerGroup.warm} starts them all ahead of traffic.
 *
 * @module
 */
import type { MetricFamily } from "../metrics.ts";
import { type Clock, systemClock } from "../clock.ts";
import {
  SubmitNotAllowedError,
  WorkerCrashedError,
  WorkerGroupClosedError,
  WorkerGroupFullError,
  WorkerTaskTimeoutError,
} from "./_errors.ts";
import type { TaskPriority, Transferring } from "./_protocol.ts";
import type { Slot, SlotHost, SlotOutcome, SlotSubmission } from "./_slot.ts";
import { InlineSlot } from "./_inline_slot.ts";
import { WorkerSlot } from "./_worker_slot.ts";
import type { TaskTable } from "./task_host.ts";

export {
  SameGroupSubmitError,
  SubmitNotAllowedError,
  WorkerCrashedError,
  WorkerGroupClosedError,
  WorkerGroupFullError,
  WorkerTaskError,
  WorkerTaskTimeoutError,
} from "./_errors.ts";
export type { TaskPriority, Transferring } from "./_protocol.ts";

/**
 * A task that runs longer than this is taken for hung and its worker is
 * replaced. 60 s: the slowest storage task we know of, opus-encoding 60 s of
 * audio, takes about 0.7 s on one core (DESIGN.md section 2).
 */
export const DEFAULT_TASK_TIMEOUT_MS = 60_000;

/** Where a group's tasks run. */
export type WorkerGroupMode = "workers" | "inline";

/** Options of {@linkcode WorkerGroup.run}. */
export interface RunOptions {
  /** Cancels the task: a queued task never starts, a running one is told. */
  signal?: AbortSignal;
  /** ArrayBuffers (and other transferables) in `payload` to move, not copy. */
  transfer?: Transferable[];
  /** Overrides the group's task timeout, in ms. */
  timeoutMs?: number;
  /** `interactive` tasks leave the queue before `background` ones. Default `interactive`. */
  priority?: TaskPriority;
}

/** A submission from a task of group `from` to group `group`. */
export interface SubmitRequest {
  from: string;
  group: string;
  task: string;
  payload: unknown;
  options: RunOptions;
}

/** Runs a submission from inside a task on the group it names. */
export type SubmitRouter = (request: SubmitRequest) => Promise<Transferring>;

/** Options of the {@linkcode WorkerGroup} constructor. */
export interface WorkerGroupOptions {
  /** The group's name, the `group` label of its metrics. */
  name: string;
  /** How many tasks run at once (workers, or inline slots). */
  size: number;
  /** The worker module; it calls `serveTasks()` with the group's table. */
  entry: URL;
  /** The same table, loaded on first use in inline mode. */
  tasks: () => Promise<TaskTable>;
  /** How many tasks may wait for a worker before `run()` rejects. */
  maxQueued: number;
  /** Default per-task timeout. Default {@linkcode DEFAULT_TASK_TIMEOUT_MS}. */
  taskTimeoutMs?: number;
  /** Default: `workers` when `globalThis.Worker` exists, else `inline`. */
  mode?: WorkerGroupMode;
  /** Times tasks and their timeouts. Default the system clock. */
  clock?: Clock;
  /** Runs `ctx.submit()` of this group's tasks; without it they reject. */
  router?: SubmitRouter;
}

/** Options of {@linkcode WorkerGroup.close}. */
export interface CloseOptions {
  /** `drain` (default): let running tasks finish; `cancel`: reject them. */
  mode?: "drain" | "cancel";
}

interface Job {
  readonly id: number;
  readonly task: string;
  payload: unknown;
  transfer: Transferable[];
  readonly priority: TaskPriority;
  readonly timeoutMs: number;
  readonly enqueuedAt: number;
  startedAt: number;
  readonly deferred: PromiseWithResolvers<Transferring>;
  settled: boolean;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  /** Aborted when the job fails or ends: stops its submissions. */
  readonly scope: AbortController;
  /** Aborted when the job releases its slot: stops its timeout. */
  readonly timer: AbortController;
}

/**
 * A pool of workers for one kind of work.
 *
 * @example
 * ```ts ignore
 * import { WorkerGroup } from "./worker_group.ts";
 * const storage = new WorkerGroup({
 *   name: "storage",
 *   size: navigator.hardwareConcurrency,
 *   entry: new URL("./storage_worker.ts", import.meta.url),
 *   tasks: () => import("./storage_tasks.ts").then((m) => m.storageTasks),
 *   maxQueued: 256,
 * });
 * const pcm = await storage.run<ArrayBuffer>("decode", { bytes }, {
 *   transfer: [bytes],
 * });
 * await storage.close();
 * ```
 */
export class WorkerGroup {
  /** The group's name. */
  readonly name: string;
  /** How many tasks run at once. */
  readonly size: number;
  /** Where tasks run. */
  readonly mode: WorkerGroupMode;
  #entry: URL;
  #loadTasks: () => Promise<TaskTable>;
  #maxQueued: number;
  #taskTimeoutMs: number;
  #clock: Clock;
  #router: SubmitRouter | undefined;
  #slots: Slot[] = [];
  #running = new Map<Slot, Job>();
  #queues: Record<TaskPriority, Job[]> = { interactive: [], background: [] };
  #state: "open" | "closing" | "closed" = "open";
  #closed: Promise<void> | undefined;
  #lastJobId = 0;
  #lastWorker = 0;
  #completed = 0;
  #failed = 0;
  #rejected = 0;
  #restarted = 0;
  #taskSeconds = 0;
  #taskCount = 0;
  #waitSeconds = 0;
  #waitCount = 0;

  /** @param options see {@linkcode WorkerGroupOptions} */
  constructor(options: WorkerGroupOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new RangeError(
        `Cannot create worker group "${options.name}": size ${options.size} is not a positive integer`,
      );
    }
    if (!Number.isInteger(options.maxQueued) || options.maxQueued < 0) {
      throw new RangeError(
        `Cannot create worker group "${options.name}": maxQueued ${options.maxQueued} is not a non-negative integer`,
      );
    }
    this.name = options.name;
    this.size = options.size;
    this.mode = options.mode ??
      ("Worker" in globalThis ? "workers" : "inline");
    this.#entry = options.entry;
    let table: Promise<TaskTable> | undefined;
    this.#loadTasks = () => table ??= options.tasks();
    this.#maxQueued = options.maxQueued;
    this.#taskTimeoutMs = options.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS;
    this.#clock = options.clock ?? systemClock;
    this.#router = options.router;
  }

  /**
   * Runs `task` with `payload` on a free worker, or queues it.
   *
   * Rejects at once with {@linkcode WorkerGroupFullError} when `maxQueued`
   * tasks are already waiting, with the signal's reason when it aborts,
   * with {@linkcode WorkerTaskTimeoutError} past the timeout, with
   * {@linkcode WorkerCrashedError} when the worker dies, and with a
   * `WorkerTaskError` carrying the handler's message when the handler throws.
   */
  async run<R = unknown>(
    task: string,
    payload: unknown,
    options: RunOptions = {},
  ): Promise<R> {
    const { value } = await this.runTransferring(task, payload, options);
    return value as R;
  }

  /**
   * Like {@linkcode WorkerGroup.run}, but also returns the objects the
   * handler transferred, so that a router can pass them on without a copy.
   */
  runTransferring(
    task: string,
    payload: unknown,
    options: RunOptions = {},
  ): Promise<Transferring> {
    if (this.#state !== "open") {
      return Promise.reject(
        new WorkerGroupClosedError(
          `Cannot run task "${task}" on worker group "${this.name}": the group is closed`,
        ),
      );
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#running.size >= this.size && this.queued >= this.#maxQueued) {
      this.#rejected++;
      return Promise.reject(
        new WorkerGroupFullError(
          `Cannot queue task "${task}" on worker group "${this.name}": ${this.#maxQueued} tasks are already waiting`,
        ),
      );
    }
    let moved = { payload, transfer: options.transfer ?? [] };
    if (moved.transfer.length > 0 || this.mode === "inline") {
      // Detaches the caller's buffers now, even if the task waits in the
      // queue, and in inline mode copies what a worker would have copied.
      try {
        moved = structuredClone(moved, { transfer: moved.transfer });
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const job: Job = {
      id: ++this.#lastJobId,
      task,
      payload: moved.payload,
      transfer: moved.transfer,
      priority: options.priority ?? "interactive",
      timeoutMs: options.timeoutMs ?? this.#taskTimeoutMs,
      enqueuedAt: this.#clock.now(),
      startedAt: 0,
      deferred: Promise.withResolvers<Transferring>(),
      settled: false,
      signal,
      onAbort: () => this.#abort(job),
      scope: new AbortController(),
      timer: new AbortController(),
    };
    signal?.addEventListener("abort", job.onAbort, { once: true });
    this.#queues[job.priority].push(job);
    this.#pump();
    return job.deferred.promise;
  }

  /** Starts every worker now instead of on first use. */
  warm(): void {
    while (this.#state === "open" && this.#slots.length < this.size) {
      this.#spawn();
    }
  }

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.#queues.interactive.length + this.#queues.background.length;
  }

  /** Tasks holding a worker (cancelled ones included until they stop). */
  get busy(): number {
    return this.#running.size;
  }

  /** Workers replaced after a crash or a timeout. */
  get restarted(): number {
    return this.#restarted;
  }

  /**
   * Stops taking tasks, rejects the queued ones with
   * {@linkcode WorkerGroupClosedError}, then either waits for the running
   * ones (`drain`, the default; each is bounded by its timeout) or rejects
   * them too (`cancel`), and terminates every worker. In inline mode a
   * handler that ignores its signal holds `close()` up, since it cannot be
   * killed. Calling it again returns the first call's promise.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closed ??= this.#close(options.mode ?? "drain");
    return this.#closed;
  }

  /** The group's metrics, labelled `group="<name>"`. */
  collect(): MetricFamily[] {
    const labels = { group: this.name };
    function family(
      name: string,
      type: "gauge" | "counter",
      help: string,
      value: number,
    ): MetricFamily {
      return {
        name: `audiosync_worker_group_${name}`,
        help,
        type,
        samples: [{ labels, value }],
      };
    }
    return [
      family(
        "workers",
        "gauge",
        "Workers started (inline mode: slots)",
        this.mode === "inline" ? this.size : this.#slots.length,
      ),
      family("busy", "gauge", "Tasks holding a worker", this.busy),
      family("queued", "gauge", "Tasks waiting for a worker", this.queued),
      family(
        "tasks_completed_total",
        "counter",
        "Tasks that resolved",
        this.#completed,
      ),
      family(
        "tasks_failed_total",
        "counter",
        "Tasks that rejected after being accepted (errors, timeouts, crashes, cancellations)",
        this.#failed,
      ),
      family(
        "tasks_rejected_total",
        "counter",
        "Tasks refused because the queue was full",
        this.#rejected,
      ),
      family(
        "restarts_total",
        "counter",
        "Workers replaced after a crash or a timeout",
        this.#restarted,
      ),
      family(
        "task_seconds_sum",
        "counter",
        "Seconds workers spent on tasks",
        this.#taskSeconds,
      ),
      family(
        "task_seconds_count",
        "counter",
        "Tasks that released a worker",
        this.#taskCount,
      ),
      family(
        "queue_wait_seconds_sum",
        "counter",
        "Seconds tasks waited in the queue before starting",
        this.#waitSeconds,
      ),
      family(
        "queue_wait_seconds_count",
        "counter",
        "Tasks that started",
        this.#waitCount,
      ),
    ];
  }

  async #close(mode: "drain" | "cancel"): Promise<void> {
    this.#state = "closing";
    const closed = new WorkerGroupClosedError(
      `Cannot finish task on worker group "${this.name}": the group was closed`,
    );
    for (const queue of Object.values(this.#queues)) {
      for (const job of queue.splice(0)) this.#settle(job, closed);
    }
    const running = [...this.#running];
    if (mode === "cancel") {
      for (const [slot, job] of running) {
        this.#settle(job, closed);
        slot.cancel(job.id, closed);
      }
    }
    await Promise.allSettled(running.map(([, job]) => job.deferred.promise));
    if (this.mode === "inline") {
      await Promise.all(this.#slots.map((slot) => slot.idle()));
    }
    this.#state = "closed";
    for (const slot of this.#slots.splice(0)) slot.terminate();
    for (const [slot, job] of this.#running) this.#release(slot, job);
  }

  #host: SlotHost = {
    ready: () => this.#pump(),
    finished: (slot, jobId, outcome) => this.#finished(slot, jobId, outcome),
    crashed: (slot, error, phase) => this.#crashed(slot, error, phase),
    submit: (slot, jobId, request) => this.#submit(slot, jobId, request),
  };

  #spawn(): Slot {
    const slot = this.mode === "inline"
      ? new InlineSlot(this.#loadTasks, this.#host)
      : new WorkerSlot(this.#entry, {
        group: this.name,
        name: `${this.name}-${++this.#lastWorker}`,
        host: this.#host,
      });
    this.#slots.push(slot);
    return slot;
  }

  #pump(): void {
    while (this.#state === "open" && this.queued > 0) {
      let slot = this.#slots.find((slot) => !this.#running.has(slot));
      if (slot === undefined) {
        if (this.#slots.length >= this.size) return;
        slot = this.#spawn();
      }
      const job = this.#queues.interactive.shift() ??
        this.#queues.background.shift()!;
      this.#start(slot, job);
    }
  }

  #start(slot: Slot, job: Job): void {
    job.startedAt = this.#clock.now();
    this.#waitSeconds += (job.startedAt - job.enqueuedAt) / 1000;
    this.#waitCount++;
    this.#running.set(slot, job);
    this.#clock.sleep(job.timeoutMs, job.timer.signal).then(
      () => this.#timedOut(slot, job),
      () => {},
    );
    slot.start(job);
  }

  #abort(job: Job): void {
    const reason = job.signal!.reason;
    for (const queue of Object.values(this.#queues)) {
      const at = queue.indexOf(job);
      if (at >= 0) queue.splice(at, 1);
    }
    this.#settle(job, reason);
    for (const [slot, running] of this.#running) {
      if (running === job) slot.cancel(job.id, reason);
    }
  }

  #finished(slot: Slot, jobId: number, outcome: SlotOutcome): void {
    const job = this.#running.get(slot);
    if (job === undefined || job.id !== jobId) return;
    this.#release(slot, job);
    this.#settle(job, outcome.ok ? undefined : outcome.error, outcome);
    this.#pump();
  }

  #crashed(slot: Slot, error: Error, phase: "starting" | "running"): void {
    this.#forget(slot);
    const job = this.#running.get(slot);
    if (job !== undefined) {
      this.#release(slot, job);
      this.#settle(
        job,
        new WorkerCrashedError(
          phase === "starting"
            ? `Cannot run task "${job.task}" on worker group "${this.name}": ${error.message}`
            : `Task "${job.task}" of worker group "${this.name}" failed: ${error.message}`,
          error.cause ?? error,
        ),
      );
    }
    // A worker that cannot even start is not replaced, or a broken entry
    // module would restart forever; the next queued task starts another.
    if (phase === "running") this.#replace();
    this.#pump();
  }

  #timedOut(slot: Slot, job: Job): void {
    if (this.#running.get(slot) !== job) return;
    const error = new WorkerTaskTimeoutError(
      `Task "${job.task}" of worker group "${this.name}" timed out after ${job.timeoutMs} ms`,
    );
    this.#settle(job, error);
    if (this.mode === "inline") {
      // The main isolate cannot be killed: the task is asked to stop and
      // keeps its slot until it does.
      slot.cancel(job.id, error);
      return;
    }
    // A worker past its timeout may be stuck in a synchronous loop, where
    // no message reaches it: only terminating it frees the slot.
    this.#release(slot, job);
    this.#forget(slot);
    slot.terminate();
    this.#replace();
    this.#pump();
  }

  #forget(slot: Slot): void {
    const at = this.#slots.indexOf(slot);
    if (at >= 0) this.#slots.splice(at, 1);
  }

  #replace(): void {
    this.#restarted++;
    if (this.#state === "open") this.#spawn();
  }

  #release(slot: Slot, job: Job): void {
    this.#running.delete(slot);
    job.timer.abort();
    job.scope.abort();
    this.#taskSeconds += (this.#clock.now() - job.startedAt) / 1000;
    this.#taskCount++;
  }

  #settle(job: Job, error: unknown, outcome?: SlotOutcome): void {
    if (job.settled) return;
    job.settled = true;
    job.signal?.removeEventListener("abort", job.onAbort);
    if (outcome?.ok) {
      this.#completed++;
      job.deferred.resolve(outcome.result);
    } else {
      this.#failed++;
      job.deferred.reject(error);
      // Nobody waits for the job any more, so neither do its submissions;
      // its timer stays, to stop a worker that ignores the cancel.
      job.scope.abort();
    }
  }

  #submit(
    slot: Slot,
    jobId: number,
    request: SlotSubmission,
  ): Promise<Transferring> {
    const job = this.#running.get(slot);
    if (job === undefined || job.id !== jobId || job.settled) {
      return Promise.reject(
        new DOMException(
          `Cannot submit task "${request.task}" to worker group "${request.group}": the submitting task has ended`,
          "AbortError",
        ),
      );
    }
    if (this.#router === undefined) {
      return Promise.reject(
        new SubmitNotAllowedError(
          `Cannot submit task "${request.task}" to worker group "${request.group}" from worker group "${this.name}": the group is not connected to other groups`,
        ),
      );
    }
    return this.#router({
      from: this.name,
      group: request.group,
      task: request.task,
      payload: request.payload,
      options: {
        signal: AbortSignal.any([job.scope.signal, request.signal]),
        transfer: request.transfer,
        timeoutMs: request.options.timeoutMs,
        priority: request.options.priority ?? job.priority,
      },
    });
  }
}
