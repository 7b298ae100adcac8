/**
 * One JSON line per request: method, path, status, duration, request id and
 * the caller's uid when known. Hono's `logger` prints text; operators search
 * logs as JSON, so this small middleware replaces it.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app_env.ts";

/** Where log entries go; the default writes one JSON line to stdout. */
export type LogSink = (entry: Record<string, unknown>) => void;

/** Writes each entry as one JSON line on stdout. */
export function jsonLineSink(entry: Record<string, unknown>): void {
  console.log(JSON.stringify(entry));
}

/**
 * Logs every request when it completes.
 *
 * @param sink receives one entry per request
 */
export function accessLog(
  sink: LogSink,
): MiddlewareHandler<AppEnv> {
  return async function accessLog(c, next) {
    const started = performance.now();
    await next();
    sink({
      time: new Date().toISOString(),
      level: c.res.status >= 500 ? "error" : "info",
      msg: "request",
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      request_id: c.get("requestId"),
      uid: c.get("uid"),
    });
  };
}
