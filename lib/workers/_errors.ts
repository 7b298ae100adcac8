/**
 * The errors of worker groups, and how an error crosses the boundary between
 * a worker and the main isolate (structured clone keeps neither the class
 * nor extra fields of an error, so errors travel as plain records and known
 * classes are rebuilt on the other side).
 *
 * @module
 */
import { OverloadedError } from "../http_error.ts";

/** `run()` found the group's queue full: 503 with `Retry-After`. */
export class WorkerGroupFullError extends OverloadedError {
  /**
   * @param message which group is full
   * @param retryAfterSeconds the `Retry-After` value
   */
  constructor(message: string, retryAfterSeconds = 1) {
    super(message, retryAfterSeconds);
    this.name = "WorkerGroupFullError";
  }
}

/** The group is closing or closed: 503, the process is shutting down. */
export class WorkerGroupClosedError extends OverloadedError {
  /** @param message which group is closed */
  constructor(message: string) {
    super(message);
    this.name = "WorkerGroupClosedError";
  }
}

/** A task ran longer than its timeout; its worker was replaced. */
export class WorkerTaskTimeoutError extends Error {
  /** @param message which task timed out, and after how long */
  constructor(message: string) {
    super(message);
    this.name = "WorkerTaskTimeoutError";
  }
}

/** The worker running a task exited or crashed; it was replaced. */
export class WorkerCrashedError extends Error {
  /**
   * @param message what happened
   * @param cause the worker's error, when there was one
   */
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "WorkerCrashedError";
  }
}

/** A task's handler threw; `message` is the handler's own message. */
export class WorkerTaskError extends Error {
  /** The `name` of the error the handler threw, e.g. `TypeError`. */
  readonly remoteName: string;
  /** The stack of the error inside the worker, when it had one. */
  readonly remoteStack: string | undefined;

  /**
   * @param message the handler's message
   * @param options the remote error's name and stack
   */
  constructor(
    message: string,
    options: { remoteName?: string; remoteStack?: string } = {},
  ) {
    super(message);
    this.name = "WorkerTaskError";
    this.remoteName = options.remoteName ?? "Error";
    this.remoteStack = options.remoteStack;
  }
}

/** A task submitted to a group that the deadlock rule forbids it to wait on. */
export class SubmitNotAllowedError extends Error {
  /** @param message which submission and why it is forbidden */
  constructor(message: string) {
    super(message);
    this.name = "SubmitNotAllowedError";
  }
}

/** A task submitted to its own group: a task never waits for its own group. */
export class SameGroupSubmitError extends SubmitNotAllowedError {
  /** @param message which submission */
  constructor(message: string) {
    super(message);
    this.name = "SameGroupSubmitError";
  }
}

/** An error as it travels in a message. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** Set for DOMExceptions (AbortError, TimeoutError), rebuilt as such. */
  domException?: true;
  /** `Retry-After` seconds of an OverloadedError. */
  retryAfter?: number;
}

/** Turns any thrown value into a record that survives postMessage. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof DOMException) {
    return { name: error.name, message: error.message, domException: true };
  }
  if (error instanceof Error) {
    const serialized: SerializedError = {
      name: error.name,
      message: error.message,
      stack: error.stack,
    };
    if (error instanceof OverloadedError) {
      serialized.retryAfter = Number(error.headers["Retry-After"] ?? 1);
    }
    return serialized;
  }
  return { name: "Error", message: String(error) };
}

/**
 * Rebuilds an error of a known class (this module's errors and
 * DOMExceptions such as `AbortError`); anything else becomes a
 * {@linkcode WorkerTaskError} that keeps the original message and name.
 */
export function deserializeError(error: SerializedError): Error {
  if (error.domException) return new DOMException(error.message, error.name);
  const rebuilt = rebuild(error);
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  return rebuilt;
}

function rebuild(error: SerializedError): Error {
  switch (error.name) {
    case "WorkerGroupFullError":
      return new WorkerGroupFullError(error.message, error.retryAfter);
    case "WorkerGroupClosedError":
      return new WorkerGroupClosedError(error.message);
    case "WorkerTaskTimeoutError":
      return new WorkerTaskTimeoutError(error.message);
    case "WorkerCrashedError":
      return new WorkerCrashedError(error.message);
    case "SubmitNotAllowedError":
      return new SubmitNotAllowedError(error.message);
    case "SameGroupSubmitError":
      return new SameGroupSubmitError(error.message);
    default:
      return new WorkerTaskError(error.message, {
        remoteName: error.name,
        remoteStack: error.stack,
      });
  }
}
