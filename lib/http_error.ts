/**
 * An error that maps to one HTTP reply: a status, a `detail` for the JSON
 * body `{"detail": ...}`, and optional headers such as `Retry-After`.
 *
 * Library code throws it (or a subclass) for conditions a caller caused or
 * can retry; the app's error handler turns it into the reply. Anything else
 * becomes a 500 without a stack trace.
 *
 * @module
 */

/** A failure with the HTTP status and detail the client should see. */
export class HttpError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** Extra response headers, e.g. `Retry-After`. */
  readonly headers: Record<string, string>;

  /**
   * @param status HTTP status code
   * @param detail the message for `{"detail": ...}`
   * @param options extra headers and the underlying cause
   */
  constructor(
    status: number,
    detail: string,
    options: { headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

/** 503 with `Retry-After`: the service is saturated or a dependency is failing. */
export class OverloadedError extends HttpError {
  /**
   * @param detail what is saturated
   * @param retryAfterSeconds the `Retry-After` value
   */
  constructor(detail: string, retryAfterSeconds = 1, cause?: unknown) {
    super(503, detail, {
      headers: { "Retry-After": String(retryAfterSeconds) },
      cause,
    });
    this.name = "OverloadedError";
  }
}
