/**
 * Liveness and metrics; neither needs a token.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../lib/app_env.ts";

/** `GET /healthz` and `GET /metrics`. */
export function healthRoutes(
  deps: Pick<AppDeps, "metrics" | "shutdown">,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/healthz", (c) => {
    // A draining instance tells the load balancer to stop sending work.
    if (deps.shutdown.aborted) {
      return c.json({ status: "draining" }, 503);
    }
    return c.json({ status: "ok" });
  });
  app.get("/metrics", (c) =>
    c.body(deps.metrics.render(), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    }));
  return app;
}
