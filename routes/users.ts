/**
 * The caller's own settings.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../lib/app_env.ts";
import {
  DATA_PROTECTION_LEVELS,
  type DataProtectionLevel,
} from "../lib/db/user_settings.ts";
import { HttpError } from "../lib/http_error.ts";
import { readJsonObject } from "./_json_body.ts";

/** `GET` and `PUT /v1/users/me/settings`. */
export function userRoutes(
  deps: Pick<AppDeps, "settings" | "keys">,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get("/v1/users/me/settings", async (c) => {
    return c.json(await deps.settings.get(c.get("uid")));
  });

  app.put("/v1/users/me/settings", async (c) => {
    const body = await readJsonObject(c.req.raw);
    const level = body.data_protection_level;
    if (
      typeof level !== "string" ||
      !(DATA_PROTECTION_LEVELS as readonly string[]).includes(level)
    ) {
      throw new HttpError(
        422,
        `data_protection_level must be one of ${
          DATA_PROTECTION_LEVELS.map((l) => `"${l}"`).join(", ")
        }`,
      );
    }
    if (level === "enhanced" && !deps.keys.available) {
      // Refuse now rather than accept a level whose uploads would all fail.
      throw new HttpError(
        409,
        "Cannot enable enhanced protection: ENCRYPTION_SECRET is not configured on this server",
      );
    }
    const uid = c.get("uid");
    const settings = {
      ...(await deps.settings.get(uid)),
      data_protection_level: level as DataProtectionLevel,
    };
    await deps.settings.put(uid, settings);
    return c.json(settings);
  });

  return app;
}
