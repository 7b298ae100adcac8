/**
 * A slot backed by one module Web Worker that runs `serveTasks()`.
 *
 * @module
 */
import { deserializeError, serializeError } from "./_errors.ts";
import type { FromWorker, ToWorker } from "./_protocol.ts";
import type { Slot, SlotHost, SlotJob } from "./_slot.ts";

/** A Web Worker that runs one task at a time for a group. */
export class WorkerSlot implements Slot {
  #worker: Worker;
  #host: SlotHost;
  #group: string;
  #phase: "starting" | "running" | "gone" = "starting";
  /** A task handed over before the worker said it was ready. */
  #waiting: SlotJob | undefined;
  /** The task the worker is running, for crash messages. */
  #task: string | undefined;
  #submissions = new Map<number, AbortController>();

  /**
   * @param entry the worker module, which calls `serveTasks()`
   * @param options the group's name, a name for this worker, the group
   */
  constructor(
    entry: URL,
    options: { group: string; name: string; host: SlotHost },
  ) {
    this.#group = options.group;
    this.#host = options.host;
    this.#worker = new Worker(entry, { type: "module", name: options.name });
    this.#worker.addEventListener("message", (event) => {
      this.#receive((event as MessageEvent<FromWorker>).data);
    });
    this.#worker.addEventListener("error", (event) => {
      // Unhandled, a worker's error is rethrown in the parent and kills the
      // process; the group handles it by replacing the worker.
      event.preventDefault();
      this.#die(
        `crashed: ${event.message}`,
        (event as ErrorEvent).error ?? event.message,
      );
    });
    this.#worker.addEventListener("messageerror", () => {
      this.#die("sent a message that cannot be deserialized");
    });
  }

  start(job: SlotJob): void {
    this.#task = job.task;
    if (this.#phase === "starting") {
      this.#waiting = job;
      return;
    }
    this.#post(job);
  }

  cancel(jobId: number, reason: unknown): void {
    if (this.#phase !== "running") {
      // Never sent: the task ends here and the worker stays free for the next.
      if (this.#waiting?.id === jobId) {
        this.#waiting = undefined;
        this.#task = undefined;
        this.#host.finished(this, jobId, {
          ok: false,
          error: reason instanceof Error ? reason : new Error(String(reason)),
        });
      }
      return;
    }
    this.#send({ type: "cancel", id: jobId, reason: serializeError(reason) });
  }

  terminate(): void {
    if (this.#phase === "gone") return;
    this.#phase = "gone";
    this.#worker.terminate();
    for (const controller of this.#submissions.values()) controller.abort();
    this.#submissions.clear();
  }

  idle(): Promise<void> {
    return Promise.resolve();
  }

  #post(job: SlotJob): void {
    try {
      this.#worker.postMessage(
        { type: "run", id: job.id, task: job.task, payload: job.payload },
        job.transfer,
      );
    } catch (error) {
      // A payload that cannot be cloned: the task fails, the worker is fine.
      this.#host.finished(this, job.id, {
        ok: false,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }

  #send(message: ToWorker, transfer: Transferable[] = []): void {
    if (this.#phase === "gone") return;
    this.#worker.postMessage(message, transfer);
  }

  #receive(message: FromWorker): void {
    if (this.#phase === "gone") return;
    switch (message.type) {
      case "ready": {
        this.#phase = "running";
        const waiting = this.#waiting;
        this.#waiting = undefined;
        this.#host.ready(this);
        if (waiting) this.#post(waiting);
        break;
      }
      case "result":
        this.#task = undefined;
        this.#host.finished(
          this,
          message.id,
          message.ok
            ? {
              ok: true,
              result: { value: message.value, transfer: message.transfer },
            }
            : { ok: false, error: deserializeError(message.error) },
        );
        break;
      case "submit":
        this.#submit(message);
        break;
      case "submit-cancel":
        this.#submissions.get(message.subId)?.abort(
          deserializeError(message.reason),
        );
        this.#submissions.delete(message.subId);
        break;
      case "exit":
        this.#die(`exited (${message.how})`);
        break;
    }
  }

  #submit(message: Extract<FromWorker, { type: "submit" }>): void {
    const controller = new AbortController();
    this.#submissions.set(message.subId, controller);
    this.#host.submit(this, message.id, {
      group: message.group,
      task: message.task,
      payload: message.payload,
      transfer: message.transfer,
      options: message.options,
      signal: controller.signal,
    }).then(
      ({ value, transfer }) => {
        if (!this.#submissions.delete(message.subId)) return;
        try {
          this.#send({
            type: "submitted",
            subId: message.subId,
            ok: true,
            value,
          }, transfer);
        } catch (error) {
          this.#send({
            type: "submitted",
            subId: message.subId,
            ok: false,
            error: serializeError(error),
          });
        }
      },
      (error) => {
        if (!this.#submissions.delete(message.subId)) return;
        this.#send({
          type: "submitted",
          subId: message.subId,
          ok: false,
          error: serializeError(error),
        });
      },
    );
  }

  #die(what: string, cause?: unknown): void {
    if (this.#phase === "gone") return;
    const phase = this.#phase === "starting" ? "starting" : "running";
    this.terminate();
    const doing = phase === "starting"
      ? "while starting"
      : this.#task === undefined
      ? "while idle"
      : `while running task "${this.#task}"`;
    this.#host.crashed(
      this,
      new Error(`A worker of group "${this.#group}" ${what} ${doing}`, {
        cause,
      }),
      phase,
    );
  }
}
