import { assertEquals, assertThrows } from "@std/assert";
import { HttpError } from "../http_error.ts";
import {
  MAX_FCM_TOKENS,
  NotificationUsers,
  parseNotificationSettings,
} from "./notification_users.ts";

const NOW = { now: new Date("2026-05-01T00:00:00Z") };
const SETTINGS = {
  time_zone: "Asia/Kolkata",
  daily_summary_hour: 20,
  fcm_tokens: ["t1"],
  webhook_url: null,
};

Deno.test("NotificationUsers.put() moves the hour index entry when the hour changes", async () => {
  using kv = await Deno.openKv(":memory:");
  const users = new NotificationUsers(kv);
  await users.put("alice", SETTINGS, NOW);
  await users.put("alice", { ...SETTINGS, daily_summary_hour: 7 }, NOW);
  assertEquals(await Array.fromAsync(users.listByPreferredHour(20)), []);
  const at7 = await Array.fromAsync(users.listByPreferredHour(7));
  assertEquals(at7.map((u) => [u.uid, u.daily_summary_hour]), [["alice", 7]]);
  assertEquals((await users.get("alice"))?.daily_summary_hour, 7);
  assertEquals(await users.get("bob"), null);
});

Deno.test("NotificationUsers.put() leaves one index entry after concurrent writes", async () => {
  using kv = await Deno.openKv(":memory:");
  const users = new NotificationUsers(kv);
  await Promise.all(
    [1, 2, 3, 4].map((hour) =>
      users.put("alice", { ...SETTINGS, daily_summary_hour: hour }, NOW)
    ),
  );
  const entries = await Array.fromAsync(
    kv.list({ prefix: ["notification_users_by_hour"] }),
  );
  const stored = await users.get("alice");
  assertEquals(entries.length, 1);
  assertEquals(entries[0].key[1], stored?.daily_summary_hour);
});

Deno.test("parseNotificationSettings() defaults tokens and webhook and drops duplicate tokens", () => {
  assertEquals(
    parseNotificationSettings({
      time_zone: "UTC",
      daily_summary_hour: 0,
      fcm_tokens: ["a", "a"],
    }),
    {
      time_zone: "UTC",
      daily_summary_hour: 0,
      fcm_tokens: ["a"],
      webhook_url: null,
    },
  );
  assertEquals(
    parseNotificationSettings({ time_zone: "UTC", daily_summary_hour: 23 })
      .fcm_tokens,
    [],
  );
});

Deno.test("parseNotificationSettings() refuses too many tokens with a 422", () => {
  const tokens = Array.from({ length: MAX_FCM_TOKENS + 1 }, (_, i) => `t${i}`);
  const error = assertThrows(
    () =>
      parseNotificationSettings({
        time_zone: "UTC",
        daily_summary_hour: 1,
        fcm_tokens: tokens,
      }),
    HttpError,
  );
  assertEquals(error.status, 422);
  assertEquals(
    error.message,
    `Invalid notification settings: fcm_tokens must hold at most ${MAX_FCM_TOKENS} tokens`,
  );
});
