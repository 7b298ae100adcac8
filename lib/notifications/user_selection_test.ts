import { assertEquals } from "@std/assert";
import { NotificationUsers } from "./notification_users.ts";
import { selectDueUsers } from "./user_selection.ts";

async function seed(kv: Deno.Kv, uid: string, time_zone: string, hour: number) {
  await new NotificationUsers(kv).put(uid, {
    time_zone,
    daily_summary_hour: hour,
    fcm_tokens: [],
    webhook_url: null,
  }, { now: new Date(0) });
}

Deno.test("selectDueUsers() matches the local hour of +5:30 and +5:45 zones and picks the day", async () => {
  using kv = await Deno.openKv(":memory:");
  await seed(kv, "kolkata-11", "Asia/Kolkata", 11);
  await seed(kv, "kolkata-12", "Asia/Kolkata", 12);
  await seed(kv, "kathmandu-11", "Asia/Kathmandu", 11);
  await seed(kv, "kathmandu-12", "Asia/Kathmandu", 12);
  await seed(kv, "utc-6", "UTC", 6);
  const pick = async (iso: string) =>
    Object.fromEntries(
      (await selectDueUsers(new NotificationUsers(kv), new Date(iso)))
        .map((d) => [d.user.uid, d.day.dateStr]),
    );
  // 06:00Z: Kolkata 11:30, Kathmandu 11:45, UTC 06:00: before noon.
  assertEquals(await pick("2026-05-01T06:00:00Z"), {
    "kolkata-11": "2026-04-30",
    "kathmandu-11": "2026-04-30",
    "utc-6": "2026-04-30",
  });
  // 07:00Z: Kolkata 12:30, Kathmandu 12:45: from noon on, today.
  assertEquals(await pick("2026-05-01T07:00:00Z"), {
    "kolkata-12": "2026-05-01",
    "kathmandu-12": "2026-05-01",
  });
});
