/**
 * The messages between a worker group (main isolate) and its task hosts
 * (workers), and the shape of a task's result.
 *
 * @module
 */
import type { SerializedError } from "./_errors.ts";

/** Whose turn first: a user waiting, or speculative work. */
export type TaskPriority = "interactive" | "background";

/** Options of a submission from inside a task to another group. */
export interface SubmitMessageOptions {
  timeoutMs?: number;
  priority?: TaskPriority;
}

/** Main isolate to worker. */
export type ToWorker =
  | { type: "run"; id: number; task: string; payload: unknown }
  | { type: "cancel"; id: number; reason: SerializedError }
  | {
    type: "submitted";
    subId: number;
    ok: true;
    value: unknown;
  }
  | { type: "submitted"; subId: number; ok: false; error: SerializedError };

/** Worker to main isolate. */
export type FromWorker =
  | { type: "ready" }
  | {
    type: "result";
    id: number;
    ok: true;
    value: unknown;
    /** The objects transferred with this message, to pass them on. */
    transfer: Transferable[];
  }
  | { type: "result"; id: number; ok: false; error: SerializedError }
  | {
    type: "submit";
    id: number;
    subId: number;
    group: string;
    task: string;
    payload: unknown;
    transfer: Transferable[];
    options: SubmitMessageOptions;
  }
  | { type: "submit-cancel"; subId: number; reason: SerializedError }
  | { type: "exit"; how: string };

/** A value with the objects to transfer (not copy) along with it. */
export interface Transferring<T = unknown> {
  value: T;
  transfer: Transferable[];
}

/**
 * Reads a handler's return value: an object whose own keys are `value` and
 * optionally `transfer` (an array) is a `{ value, transfer }` result;
 * anything else is the value itself.
 */
export function normalizeResult(result: unknown): Transferring {
  if (typeof result === "object" && result !== null && !Array.isArray(result)) {
    const keys = Object.keys(result);
    const shaped = Object.hasOwn(result, "value") &&
      keys.every((key) => key === "value" || key === "transfer");
    if (shaped) {
      const { value, transfer } = result as {
        value: unknown;
        transfer?: unknown;
      };
      if (transfer === undefined) return { value, transfer: [] };
      if (Array.isArray(transfer)) {
        return { value, transfer: transfer as Transferable[] };
      }
    }
  }
  return { value: result, transfer: [] };
}
