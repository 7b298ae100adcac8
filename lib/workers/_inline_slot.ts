/**
 * A slot that runs tasks on the main isolate, for places without `Worker`.
 * Payloads and results are still structured-cloned, and transferred buffers
 * still detached, so code behaves the same in both modes.
 *
 * @module
 */
import { deserializeError, serializeError } from "./_errors.ts";
import { normalizeResult, type Transferring } from "./_protocol.ts";
import type { Slot, SlotHost, SlotJob } from "./_slot.ts";
import type { SubmitOptions, TaskContext, TaskTable } from "./task_host.ts";

/** Runs one task at a time of a lazily loaded task table. */
export class InlineSlot implements Slot {
  #table: () => Promise<TaskTable>;
  #host: SlotHost;
  #controller: AbortController | undefined;
  #running: Promise<void> = Promise.resolve();
  #gone = false;

  /**
   * @param table loads the task table (once per group; cache it)
   * @param host the group
   */
  constructor(table: () => Promise<TaskTable>, host: SlotHost) {
    this.#table = table;
    this.#host = host;
    queueMicrotask(() => {
      if (!this.#gone) host.ready(this);
    });
  }

  start(job: SlotJob): void {
    const controller = new AbortController();
    this.#controller = controller;
    this.#running = this.#run(job, controller.signal).then((outcome) => {
      if (this.#controller === controller) this.#controller = undefined;
      if (!this.#gone) this.#host.finished(this, job.id, outcome);
    });
  }

  cancel(_jobId: number, reason: unknown): void {
    this.#controller?.abort(reason);
  }

  terminate(): void {
    this.#gone = true;
    this.#controller?.abort();
  }

  idle(): Promise<void> {
    return this.#running;
  }

  async #run(
    job: SlotJob,
    signal: AbortSignal,
  ): Promise<
    { ok: true; result: Transferring } | { ok: false; error: Error }
  > {
    try {
      const table = await this.#table();
      const handler = Object.hasOwn(table, job.task)
        ? table[job.task]
        : undefined;
      if (handler === undefined) {
        throw new Error(`Cannot run task "${job.task}": no such task`);
      }
      const ctx: TaskContext = {
        signal,
        submit: async <R>(
          group: string,
          task: string,
          payload: unknown,
          options: SubmitOptions = {},
        ): Promise<R> => {
          const submitSignal = options.signal
            ? AbortSignal.any([signal, options.signal])
            : signal;
          const { value } = await this.#host.submit(this, job.id, {
            group,
            task,
            payload,
            transfer: options.transfer ?? [],
            options: {
              timeoutMs: options.timeoutMs,
              priority: options.priority,
            },
            signal: submitSignal,
          });
          return value as R;
        },
      };
      const raw = await handler(job.payload, ctx);
      const result = normalizeResult(raw);
      // Moves the handler's buffers as postMessage would: the handler's
      // references are detached, the caller gets the only live ones.
      return {
        ok: true,
        result: structuredClone(result, { transfer: result.transfer }),
      };
    } catch (error) {
      // Through the same (de)serialization as a worker's error, so callers
      // see the same classes in both modes.
      return { ok: false, error: deserializeError(serializeError(error)) };
    }
  }
}
