/**
 * What a worker group asks of the place a task runs (a Web Worker, or the
 * main isolate in inline mode), and what that place tells the group.
 *
 * @module
 */
import type {
  SubmitMessageOptions,
  TaskPriority,
  Transferring,
} from "./_protocol.ts";

/** The part of a task that a slot needs to run it. */
export interface SlotJob {
  readonly id: number;
  readonly task: string;
  readonly payload: unknown;
  readonly transfer: Transferable[];
  readonly priority: TaskPriority;
}

/** A task's answer, as the slot reports it. */
export type SlotOutcome =
  | { ok: true; result: Transferring }
  | { ok: false; error: Error };

/** A submission from inside a task to another group. */
export interface SlotSubmission {
  group: string;
  task: string;
  payload: unknown;
  transfer: Transferable[];
  options: SubmitMessageOptions;
  /** Aborted when the submitting task gives up on it. */
  signal: AbortSignal;
}

/** The group's side, called by a slot. */
export interface SlotHost {
  /** The slot can take tasks (a worker has loaded its module). */
  ready(slot: Slot): void;
  /** The task `jobId` answered; the slot is free again. */
  finished(slot: Slot, jobId: number, outcome: SlotOutcome): void;
  /** The slot is gone; `phase` says whether it ever became ready. */
  crashed(slot: Slot, error: Error, phase: "starting" | "running"): void;
  /** Task `jobId` submits to another group. */
  submit(slot: Slot, jobId: number, request: SlotSubmission): Promise<
    Transferring
  >;
}

/** One place where one task at a time runs. */
export interface Slot {
  /** Hands over a task; the slot answers through `SlotHost.finished`. */
  start(job: SlotJob): void;
  /** Asks the running task `jobId` to stop (its `ctx.signal` aborts). */
  cancel(jobId: number, reason: unknown): void;
  /** Stops the slot for good; no more calls to the host follow. */
  terminate(): void;
  /** Settles when the slot has nothing running (at once for workers). */
  idle(): Promise<void>;
}
