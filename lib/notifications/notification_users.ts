/**
 * Users' daily-summary settings in Deno KV: time zone, preferred summary
 * hour, FCM tokens and an optional webhook, with an index by preferred hour
 * so the hourly run reads only the users due at some hour.
 *
 * Keys:
 * - `["notification_users", uid]` → {@linkcode NotificationUser}
 * - `["notification_users_by_hour", hour, uid]` → the same value, written in
 *   the same atomic operation, so the run needs no second read per user.
 *
 * @module
 */
import { HttpError } from "../http_error.ts";
import { webhookUrlProblem } from "./webhook_url.ts";
import { isValidTimeZone } from "./time_zones.ts";

const USERS_PREFIX = "notification_users";
const BY_HOUR_PREFIX = "notification_users_by_hour";
/**
 * A phone, a tablet and a few stale installs; more is a client bug. With
 * {@linkcode MAX_FCM_TOKEN_LENGTH} it keeps a record far below KV's 64 KiB
 * value limit.
 */
export const MAX_FCM_TOKENS = 16;
/** FCM registration tokens are about 160 characters; this leaves headroom. */
export const MAX_FCM_TOKEN_LENGTH = 1024;
/** A common practical URL limit (browsers and proxies). */
export const MAX_WEBHOOK_URL_LENGTH = 2048;
/** Attempts of the read-modify-write in {@linkcode NotificationUsers.put}. */
const PUT_ATTEMPTS = 5;

/** What a user sets through `PUT /v1/users/me/notification-settings`. */
export interface NotificationSettings {
  /** IANA zone name, e.g. `Asia/Kolkata`. */
  time_zone: string;
  /** Local hour (0-23) at which the daily summary is sent. */
  daily_summary_hour: number;
  /** FCM registration tokens of the user's devices. */
  fcm_tokens: string[];
  /** Where `day_summary` is posted, or null. */
  webhook_url: string | null;
}

/** A stored user: the settings, the uid and when they last changed. */
export interface NotificationUser extends NotificationSettings {
  uid: string;
  /** ISO time of the last change. */
  updated_at: string;
}

/**
 * Validates a settings body; throws a 422 {@linkcode HttpError} naming the
 * first bad field. `fcm_tokens` defaults to `[]`, `webhook_url` to null;
 * duplicate tokens are dropped.
 */
export function parseNotificationSettings(body: unknown): NotificationSettings {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("body must be a JSON object");
  }
  const input = body as Record<string, unknown>;
  const timeZone = input.time_zone;
  if (typeof timeZone !== "string" || !isValidTimeZone(timeZone)) {
    throw invalid(
      `time_zone must be an IANA time zone name such as "Asia/Kolkata", got ${
        JSON.stringify(timeZone ?? null)
      }`,
    );
  }
  const hour = input.daily_summary_hour;
  if (
    typeof hour !== "number" || !Number.isInteger(hour) || hour < 0 || hour > 23
  ) {
    throw invalid(
      `daily_summary_hour must be an integer from 0 to 23, got ${
        JSON.stringify(hour ?? null)
      }`,
    );
  }
  const tokens = input.fcm_tokens ?? [];
  if (
    !Array.isArray(tokens) ||
    !tokens.every((t) =>
      typeof t === "string" && t.length > 0 && t.length <= MAX_FCM_TOKEN_LENGTH
    )
  ) {
    throw invalid(
      `fcm_tokens must be a list of non-empty strings of at most ${MAX_FCM_TOKEN_LENGTH} characters`,
    );
  }
  const uniqueTokens = [...new Set(tokens as string[])];
  if (uniqueTokens.length > MAX_FCM_TOKENS) {
    throw invalid(`fcm_tokens must hold at most ${MAX_FCM_TOKENS} tokens`);
  }
  const webhook = input.webhook_url ?? null;
  if (webhook !== null) {
    if (
      typeof webhook !== "string" || webhook.length > MAX_WEBHOOK_URL_LENGTH
    ) {
      throw invalid(
        `webhook_url must be an https URL of at most ${MAX_WEBHOOK_URL_LENGTH} characters, or null`,
      );
    }
    const problem = webhookUrlProblem(webhook);
    if (problem) throw invalid(problem);
  }
  return {
    time_zone: timeZone.trim(),
    daily_summary_hour: hour,
    fcm_tokens: uniqueTokens,
    webhook_url: webhook as string | null,
  };
}

function invalid(reason: string): HttpError {
  return new HttpError(422, `Invalid notification settings: ${reason}`);
}

/**
 * The repository of notification users.
 *
 * @example
 * ```ts ignore
 * const users = new NotificationUsers(kv);
 * await users.put("uid-1", settings, { now: new Date() });
 * for await (const user of users.listByPreferredHour(20)) console.log(user.uid);
 * ```
 */
export class NotificationUsers {
  readonly #kv: Deno.Kv;

  /** @param kv the store */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** The user's settings, or null when never set. */
  async get(uid: string): Promise<NotificationUser | null> {
    const entry = await this.#kv.get<NotificationUser>([USERS_PREFIX, uid]);
    return entry.value;
  }

  /**
   * Replaces the user's settings and moves the hour index entry with them, in
   * one atomic operation guarded by the record's versionstamp, so two
   * concurrent writes never leave an index entry behind.
   */
  async put(
    uid: string,
    settings: NotificationSettings,
    options: { now: Date },
  ): Promise<NotificationUser> {
    const user: NotificationUser = {
      uid,
      ...settings,
      updated_at: options.now.toISOString(),
    };
    for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
      const current = await this.#kv.get<NotificationUser>([USERS_PREFIX, uid]);
      const op = this.#kv.atomic().check(current)
        .set([USERS_PREFIX, uid], user)
        .set([BY_HOUR_PREFIX, user.daily_summary_hour, uid], user);
      const oldHour = current.value?.daily_summary_hour;
      if (oldHour !== undefined && oldHour !== user.daily_summary_hour) {
        op.delete([BY_HOUR_PREFIX, oldHour, uid]);
      }
      if ((await op.commit()).ok) return user;
    }
    throw new HttpError(
      409,
      `Cannot save notification settings of "${uid}": they kept changing concurrently`,
    );
  }

  /** Every user whose preferred summary hour is `hour`. */
  async *listByPreferredHour(
    hour: number,
  ): AsyncIterableIterator<NotificationUser> {
    for await (
      const entry of this.#kv.list<NotificationUser>({
        prefix: [BY_HOUR_PREFIX, hour],
      })
    ) {
      yield entry.value;
    }
  }
}
