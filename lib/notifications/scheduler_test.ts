import { assertEquals } from "@std/assert";
import { ManualClock } from "./_test_helpers.ts";
import {
  recordingNotifier,
  seedUser,
  testNotificationDeps,
} from "./_run_fixtures.ts";
import {
  type CronRegistrar,
  DAILY_SUMMARY_CRON_NAME,
  DAILY_SUMMARY_SCHEDULE,
  scheduleDailySummaries,
} from "./scheduler.ts";

Deno.test("scheduleDailySummaries() registers an hourly cron that runs the job", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(Date.parse("2026-05-01T14:30:00Z"));
  await seedUser(kv, "alice");
  const push = recordingNotifier();
  const registered: {
    name: string;
    schedule: string;
    signal?: AbortSignal;
    handler: () => Promise<void>;
  }[] = [];
  const cron: CronRegistrar = (name, schedule, options, handler) => {
    registered.push({ name, schedule, signal: options.signal, handler });
    return Promise.resolve();
  };
  const stop = scheduleDailySummaries({
    kv,
    clock,
    log: () => {},
    notifications: testNotificationDeps({ push }),
  }, { cron });
  assertEquals(registered.length, 1);
  assertEquals(registered[0].name, DAILY_SUMMARY_CRON_NAME);
  assertEquals(registered[0].schedule, "0 * * * *");
  assertEquals(DAILY_SUMMARY_SCHEDULE, "0 * * * *");
  await registered[0].handler();
  assertEquals(push.calls, ["alice"]);
  stop();
  assertEquals(registered[0].signal?.aborted, true);
});

Deno.test("scheduleDailySummaries() logs a failed run instead of throwing", async () => {
  const kv = await Deno.openKv(":memory:");
  kv.close(); // every KV call now fails
  const logs: Record<string, unknown>[] = [];
  let handler: (() => Promise<void>) | undefined;
  const stop = scheduleDailySummaries({
    kv,
    clock: new ManualClock(0),
    log: (e) => logs.push(e),
    notifications: testNotificationDeps(),
  }, {
    cron: (_n, _s, _o, h) => {
      handler = h;
      return Promise.resolve();
    },
  });
  await handler!();
  assertEquals(logs[0].msg, "daily summary run failed");
  stop();
});
