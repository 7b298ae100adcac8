/**
 * Daily summary notifications: a user's settings, and the operator route
 * that runs the job on demand (reference section 8).
 *
 * - `PUT /v1/users/me/notification-settings`
 * - `GET /v1/users/me/notification-settings`
 * - `POST /v1/notifications/daily-summary/run` (operators only: uids in
 *   `OPERATOR_UIDS`), body `{"dry_run"?: boolean, "now"?: ISO time,
 *   "strategy"?: "rolling" | "batches"}`; returns the run report.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppDeps, AppEnv } from "../lib/app_env.ts";
import { HttpError } from "../lib/http_error.ts";
import {
  type NotificationDeps,
  runDailySummaries,
} from "../lib/notifications/daily_summary_run.ts";
import {
  NotificationUsers,
  parseNotificationSettings,
} from "../lib/notifications/notification_users.ts";

/** A date-time with an explicit offset; no local times, no bare dates. */
const RFC3339 =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
/** How far a live run may replay: a missed hour of the last day. */
const MAX_LIVE_SHIFT_MS = 24 * 3600 * 1000;

/** The dependencies of {@linkcode notificationRoutes}. */
export type NotificationRouteDeps =
  & Pick<AppDeps, "kv" | "clock" | "log">
  & Partial<Pick<AppDeps, "shutdown" | "limiters">>
  & { notifications: NotificationDeps };

/**
 * The notification routes, to be mounted with `app.route("/", ...)` on an
 * app whose `/v1/*` middleware sets `uid`.
 *
 * @example
 * ```ts ignore
 * app.route("/", notificationRoutes({ ...deps, notifications }));
 * ```
 */
export function notificationRoutes(
  deps: NotificationRouteDeps,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const users = new NotificationUsers(deps.kv);

  app.put("/v1/users/me/notification-settings", async (c) => {
    const settings = parseNotificationSettings(await jsonBody(c, "required"));
    const saved = await users.put(c.get("uid"), settings, {
      now: new Date(deps.clock.now()),
    });
    return c.json(settingsReply(saved));
  });

  app.get("/v1/users/me/notification-settings", async (c) => {
    const saved = await users.get(c.get("uid"));
    if (!saved) {
      throw new HttpError(404, "Notification settings not found");
    }
    return c.json(settingsReply(saved));
  });

  app.post("/v1/notifications/daily-summary/run", async (c) => {
    if (!deps.notifications.operatorUids.has(c.get("uid"))) {
      throw new HttpError(
        403,
        "Only operators (OPERATOR_UIDS) may run the daily summary",
      );
    }
    const body = await jsonBody(c, "optional") ?? {};
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpError(
        422,
        "Invalid run request: body must be a JSON object",
      );
    }
    const { dry_run: dryRun, now, strategy } = body as Record<string, unknown>;
    if (dryRun !== undefined && typeof dryRun !== "boolean") {
      throw new HttpError(
        422,
        "Invalid run request: dry_run must be a boolean",
      );
    }
    if (
      now !== undefined &&
      (typeof now !== "string" || !RFC3339.test(now) ||
        Number.isNaN(Date.parse(now)))
    ) {
      throw new HttpError(
        422,
        `Invalid run request: now must be an RFC 3339 time with an offset, such as 2026-05-01T14:30:00Z, got ${
          JSON.stringify(now)
        }`,
      );
    }
    if (
      now !== undefined && !dryRun &&
      Math.abs(Date.parse(now as string) - deps.clock.now()) >
        MAX_LIVE_SHIFT_MS
    ) {
      // A live run sends real pushes: only a recent hour may be replayed.
      throw new HttpError(
        422,
        "Invalid run request: a live run's now must be within 24 hours of the current time; use dry_run to look further",
      );
    }
    if (
      strategy !== undefined && strategy !== "rolling" && strategy !== "batches"
    ) {
      throw new HttpError(
        422,
        'Invalid run request: strategy must be "rolling" or "batches"',
      );
    }
    const report = await runDailySummaries(deps, {
      mode: dryRun ? "dry_run" : "live",
      now: now === undefined ? undefined : new Date(now as string),
      strategy: strategy as "rolling" | "batches" | undefined,
      // Not the request's signal: an operator who disconnects should not
      // leave the hour's users half done.
      signal: deps.shutdown,
    });
    return c.json(report);
  });

  return app;
}

function settingsReply(user: {
  time_zone: string;
  daily_summary_hour: number;
  fcm_tokens: string[];
  webhook_url: string | null;
  updated_at: string;
}) {
  return {
    time_zone: user.time_zone,
    daily_summary_hour: user.daily_summary_hour,
    fcm_tokens: user.fcm_tokens,
    webhook_url: user.webhook_url,
    updated_at: user.updated_at,
  };
}

async function jsonBody(
  c: Context<AppEnv>,
  presence: "required" | "optional",
): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") {
    if (presence === "optional") return undefined;
    throw new HttpError(400, "Request body must be JSON, got an empty body");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "Request body is not valid JSON");
  }
}
