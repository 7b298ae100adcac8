/**
 * Builds the HTTP app from its dependencies. `main.ts` serves it; tests call
 * `app.request()` on it without a server.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { bodyLimit } from "hono/body-limit";
import { accessLog } from "./access_log.ts";
import type { AppDeps, AppEnv } from "./app_env.ts";
import { requireUser } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import { EncryptionUnavailableError } from "./crypto/key_ring.ts";
import { TransientStorageError } from "./storage/object_store.ts";
import { healthRoutes } from "../routes/health.ts";
import { blobRoutes } from "../routes/blobs.ts";
import { conversationRoutes } from "../routes/conversations.ts";
import { syncAudioRoutes } from "../routes/sync_audio.ts";
import { userRoutes } from "../routes/users.ts";
import { notificationRoutes } from "../routes/notifications.ts";

/** Request ids from clients longer than this are replaced by our own. */
const MAX_REQUEST_ID_LENGTH = 128;

/**
 * Creates the app with every route and middleware.
 *
 * @example
 * ```ts ignore
 * const app = createApp(deps);
 * const res = await app.request("/healthz");
 * ```
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(
    requestId({
      headerName: "X-Request-Id",
      limitLength: MAX_REQUEST_ID_LENGTH,
    }),
  );
  app.use(accessLog(deps.log));
  app.use(secureHeaders({
    // Audio must stay playable from the apps' web origins.
    crossOriginResourcePolicy: "cross-origin",
    crossOriginOpenerPolicy: false,
  }));
  app.use(bodyLimit({
    maxSize: deps.config.maxBodyBytes,
    onError(c) {
      return c.json(
        {
          detail:
            `Request body is larger than the limit of ${deps.config.maxBodyBytes} bytes`,
        },
        413,
      );
    },
  }));

  app.route("/", healthRoutes(deps));

  const authenticated = requireUser(deps.auth);
  app.use("/v1/*", async function authenticateV1(c, next) {
    // Signed blob URLs carry their own signature instead of a token.
    if (c.req.path.startsWith("/v1/blobs/")) return await next();
    return await authenticated(c, next);
  });
  app.use("/v2/*", authenticated);

  app.route("/", blobRoutes(deps));
  app.route("/", userRoutes(deps));
  app.route("/", conversationRoutes(deps));
  app.route("/", syncAudioRoutes(deps));
  app.route("/", notificationRoutes(deps));

  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError((error, c) => errorReply(error, c, deps));
  return app;
}

function errorReply(error: Error, c: Context<AppEnv>, deps: AppDeps): Response {
  if (error instanceof HttpError) {
    for (const [name, value] of Object.entries(error.headers)) {
      c.header(name, value);
    }
    // deno-lint-ignore no-explicit-any
    return c.json({ detail: error.message }, error.status as any);
  }
  if (error instanceof TransientStorageError) {
    c.header("Retry-After", "5");
    return c.json(
      { detail: "Audio storage is failing; try again shortly" },
      503,
    );
  }
  if (error instanceof EncryptionUnavailableError) {
    return c.json({ detail: error.message }, 503);
  }
  if (error instanceof HTTPException) {
    const status = error.status;
    return c.json({ detail: error.message || httpReason(status) }, status);
  }
  deps.log({
    time: new Date().toISOString(),
    level: "error",
    msg: "unhandled error",
    request_id: c.get("requestId"),
    path: c.req.path,
    error: error.stack ?? String(error),
  });
  return c.json({ detail: "Internal Server Error" }, 500);
}

function httpReason(status: number): string {
  return status === 401 ? "Not authenticated" : `HTTP ${status}`;
}
