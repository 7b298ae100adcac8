import { assertEquals, assertLessOrEqual } from "@std/assert";
import { Counter, ManualClock } from "./_test_helpers.ts";
import { createDefaultLimiters } from "../concurrency/limiter_registry.ts";
import {
  hangUntilAborted,
  recordingNotifier,
  scriptedSummarizer,
  seedUser,
  testNotificationDeps,
} from "./_run_fixtures.ts";
import {
  type NotificationDeps,
  runDailySummaries,
  type UserOutcome,
} from "./daily_summary_run.ts";
import { DailySummaryLedger, NOTIFY_LOCK_TTL_MS } from "./idempotency.ts";

/** 20:00 in Kolkata, where the seeded users want their summary. */
const AT = new Date("2026-05-01T14:30:00Z");
const uids = (n: number) =>
  Array.from({ length: n }, (_, i) => `u${String(i).padStart(2, "0")}`);

function byUid(users: UserOutcome[]): Record<string, UserOutcome> {
  return Object.fromEntries(users.map((u) => [u.uid, u]));
}

function deps(kv: Deno.Kv, clock: ManualClock, n: Partial<NotificationDeps>) {
  const logs: Record<string, unknown>[] = [];
  return {
    kv,
    clock,
    log: (e: Record<string, unknown>) => logs.push(e),
    notifications: testNotificationDeps(n),
    logs,
  };
}

Deno.test("runDailySummaries() isolates a throwing summarizer, a timed-out notifier and a hung user", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  for (const uid of uids(12)) await seedUser(kv, uid);
  const hungStarted = Promise.withResolvers<void>();
  const delivered = new Counter();
  const summarizer = scriptedSummarizer({
    u03: () => Promise.reject(new Error("model is down")),
    u07: (signal) => {
      hungStarted.resolve();
      return hangUntilAborted(signal);
    },
  });
  const push = recordingNotifier({
    u05: () =>
      Promise.reject(new DOMException("Signal timed out.", "TimeoutError")),
  });
  const counted: typeof push = {
    ...push,
    async send(delivery, options) {
      const report = await push.send(delivery, options);
      delivered.increment();
      return report;
    },
  };
  const d = deps(kv, clock, { summarizer, push: counted });
  const run = runDailySummaries(d, { now: AT });

  await hungStarted.promise;
  await delivered.reached(9);
  // Only the hung user's deadline is still pending.
  await clock.sleepingAtMost(1);
  clock.fireAll();
  const report = await run;

  const users = byUid(report.users);
  assertEquals(
    users.u03.status === "failed" && users.u03.error,
    "model is down",
  );
  assertEquals(
    users.u05.status === "failed" && users.u05.error,
    "Signal timed out.",
  );
  assertEquals(
    users.u07.status === "failed" && users.u07.error,
    "deadline exceeded",
  );
  assertEquals(report.totals, {
    selected: 12,
    delivered: 9,
    skipped: 0,
    failed: 3,
    would_deliver: 0,
  });
  for (const uid of uids(12)) {
    if (["u03", "u05", "u07"].includes(uid)) continue;
    assertEquals(users[uid].status, "delivered", uid);
  }
  assertEquals(
    d.logs.filter((l) => l.msg === "Daily summary failed for user").length,
    3,
  );
  // A failure before delivery frees the pair for a later run; a failure
  // during delivery does not (at-most-once).
  const ledger = new DailySummaryLedger(kv, { clock });
  assertEquals(await ledger.record("u03", "2026-05-01"), null);
  assertEquals(await ledger.peek("u03", "2026-05-01"), "free");
  assertEquals((await ledger.record("u05", "2026-05-01"))?.state, "failed");
  assertEquals(await ledger.peek("u07", "2026-05-01"), "free");
});

for (const strategy of ["rolling", "batches"] as const) {
  Deno.test(`runDailySummaries() ${strategy}: never more than 8 users in the notifier`, async () => {
    using kv = await Deno.openKv(":memory:");
    const clock = new ManualClock(AT.getTime());
    const all = uids(20);
    for (const uid of all) await seedUser(kv, uid);
    const gated = gatedNotifier(all);
    const { push, gates, calls, order } = gated;
    const run = runDailySummaries(deps(kv, clock, { push }), {
      now: AT,
      strategy,
    });
    let released = 0;
    while (released < all.length) {
      // Rolling refills each freed slot; batches wait for the whole batch.
      const expected = strategy === "rolling"
        ? Math.min(8 + released, all.length)
        : Math.min(8 * (Math.floor(released / 8) + 1), all.length);
      await calls.reached(expected);
      assertLessOrEqual(gated.inFlight, 8);
      gates.get(order[released])!.resolve();
      released++;
    }
    const report = await run;
    assertEquals(gated.maxInFlight, 8);
    assertEquals(report.totals.delivered, 20);
  });
}

Deno.test("runDailySummaries() delivers once per user when two runs overlap on one on-disk KV", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audiosync-notify-" });
  try {
    const path = `${dir}/kv.sqlite3`;
    // One handle: a second handle on the same SQLite file fails with
    // "database is locked" under contention (a limit of local KV only).
    using kvA = await Deno.openKv(path);
    const kvB = kvA;
    const clock = new ManualClock(AT.getTime());
    for (const uid of uids(10)) await seedUser(kvA, uid);
    const push = recordingNotifier();
    const summarizer = scriptedSummarizer();
    const shared = { push, summarizer };
    const [a, b] = await Promise.all([
      runDailySummaries(deps(kvA, clock, shared), { now: AT }),
      runDailySummaries(deps(kvB, clock, shared), { now: AT }),
    ]);
    assertEquals([...push.calls].sort(), uids(10));
    assertEquals([...summarizer.calls].sort(), uids(10));
    assertEquals(a.totals.delivered + b.totals.delivered, 10);
    assertEquals(a.totals.skipped + b.totals.skipped, 10);
    const reasons = new Set(
      [...a.users, ...b.users].flatMap((u) =>
        u.status === "skipped" ? [u.reason] : []
      ),
    );
    for (const reason of reasons) {
      // "already_attempted": the other run was between "sending" and
      // "delivered" when this one looked.
      assertEquals(
        ["locked", "already_sent", "already_attempted"].includes(reason),
        true,
        reason,
      );
    }
    // A retry of the hour delivers nothing again.
    const again = await runDailySummaries(deps(kvA, clock, shared), {
      now: AT,
    });
    assertEquals(again.totals.skipped, 10);
    assertEquals(push.calls.length, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runDailySummaries() respects a crashed run's lock until it expires", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  await seedUser(kv, "u00");
  const ledger = new DailySummaryLedger(kv, { clock });
  assertEquals(
    (await ledger.claim("u00", "2026-05-01", "crashed-run")).status,
    "claimed",
  );
  const push = recordingNotifier();
  const first = await runDailySummaries(deps(kv, clock, { push }), { now: AT });
  assertEquals(
    first.users[0].status === "skipped" && first.users[0].reason,
    "locked",
  );
  clock.advance(NOTIFY_LOCK_TTL_MS + 1);
  const retry = await runDailySummaries(deps(kv, clock, { push }), { now: AT });
  assertEquals(retry.users[0].status, "delivered");
  assertEquals(push.calls, ["u00"]);
});

Deno.test("runDailySummaries() never resends a summary whose delivery was in doubt", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  await seedUser(kv, "u00");
  // A run that crashed after writing "sending" and before "delivered".
  const ledger = new DailySummaryLedger(kv, { clock });
  const claim = await ledger.claim("u00", "2026-05-01", "crashed-run");
  if (claim.status !== "claimed") throw new Error("claim failed");
  await ledger.begin(claim.lock, {
    summary_id: "s-1",
    uid: "u00",
    date: "2026-05-01",
    state: "sending",
    title: "t",
    body: "b",
    content: {},
    run_id: "crashed-run",
    created_at: AT.toISOString(),
  });
  clock.advance(NOTIFY_LOCK_TTL_MS + 1);
  const push = recordingNotifier();
  const report = await runDailySummaries(deps(kv, clock, { push }), {
    now: AT,
  });
  assertEquals(
    report.users[0].status === "skipped" && report.users[0].reason,
    "already_attempted",
  );
  assertEquals(push.calls, []);
});

Deno.test("runDailySummaries() applies the skip rules", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  await seedUser(kv, "locked", { conversation: { is_locked: true } });
  await seedUser(kv, "discarded", { conversation: { discarded: true } });
  await seedUser(kv, "silent", { conversation: { transcript_segments: [] } });
  await seedUser(kv, "nothing", { startedAt: null });
  // 2026-05-02T01:00 in Kolkata is 2026-05-01T19:30Z: outside the day.
  await seedUser(kv, "tomorrow", { startedAt: "2026-05-01T19:30:00Z" });
  await seedUser(kv, "no-target", { tokens: [] });
  await seedUser(kv, "ok");
  const summarizer = scriptedSummarizer();
  const report = await runDailySummaries(
    deps(kv, clock, { summarizer }),
    { now: AT },
  );
  const reasons = Object.fromEntries(
    report.users.map((
      u,
    ) => [u.uid, u.status === "skipped" ? u.reason : u.status]),
  );
  assertEquals(reasons, {
    locked: "no_conversations",
    discarded: "no_transcript",
    silent: "no_transcript",
    nothing: "no_conversations",
    tomorrow: "no_conversations",
    "no-target": "no_delivery_target",
    ok: "delivered",
  });
  assertEquals(summarizer.calls, ["ok"]);
  // Skipped users leave no lock behind.
  const ledger = new DailySummaryLedger(kv, { clock });
  assertEquals(await ledger.peek("locked", "2026-05-01"), "free");
});

Deno.test("runDailySummaries() stores the summary and pushes the reference payload", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  await seedUser(kv, "u00", { webhookUrl: "https://example.test/hook" });
  const push = recordingNotifier();
  const webhook = recordingNotifier();
  const report = await runDailySummaries(deps(kv, clock, { push, webhook }), {
    now: AT,
  });
  const outcome = report.users[0];
  if (outcome.status !== "delivered") throw new Error(outcome.status);
  assertEquals(outcome.webhook, "sent");
  assertEquals(webhook.calls, ["u00"]);
  const sent = push.delivered[0];
  assertEquals(sent.title, "🌞 Day of u00");
  assertEquals(sent.data, {
    type: "day_summary",
    notification_type: "daily_summary",
    navigate_to: `/daily-summary/${outcome.summary_id}`,
    from_integration: "false",
    text: "1 conversation(s)",
  });
  const record = await new DailySummaryLedger(kv, { clock }).record(
    "u00",
    "2026-05-01",
  );
  assertEquals(record?.state, "delivered");
  assertEquals(record?.summary_id, outcome.summary_id);
  assertEquals(record?.content.headline, "Day of u00");
});

Deno.test("runDailySummaries() counts a failed webhook without failing the push", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  await seedUser(kv, "u00", { webhookUrl: "https://example.test/hook" });
  const webhook = recordingNotifier({
    u00: () => Promise.reject(new Error("hook answered 500")),
  });
  const report = await runDailySummaries(deps(kv, clock, { webhook }), {
    now: AT,
  });
  const outcome = report.users[0];
  assertEquals(outcome.status === "delivered" && outcome.webhook, "failed");
});

Deno.test("runDailySummaries() dry run reports without summarizing, notifying or writing", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  for (const uid of uids(3)) await seedUser(kv, uid);
  await seedUser(kv, "empty", { startedAt: null });
  const summarizer = scriptedSummarizer();
  const push = recordingNotifier();
  const report = await runDailySummaries(
    deps(kv, clock, { summarizer, push }),
    {
      now: AT,
      mode: "dry_run",
    },
  );
  assertEquals(report.mode, "dry_run");
  assertEquals(report.totals.would_deliver, 3);
  assertEquals(report.totals.skipped, 1);
  assertEquals(summarizer.calls, []);
  assertEquals(push.calls, []);
  const written = await Array.fromAsync(
    kv.list({ prefix: ["daily_summaries"] }),
  );
  const locks = await Array.fromAsync(kv.list({ prefix: ["notify_lock"] }));
  assertEquals(written.length + locks.length, 0);
});

Deno.test("runDailySummaries() selects only users whose local hour is their preferred hour", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  // At 14:30Z: Kolkata 20:00, Kathmandu 20:15, UTC 14:30, New York 10:30.
  await seedUser(kv, "kolkata-20", { timeZone: "Asia/Kolkata", hour: 20 });
  await seedUser(kv, "kolkata-19", { timeZone: "Asia/Kolkata", hour: 19 });
  await seedUser(kv, "kathmandu-20", { timeZone: "Asia/Kathmandu", hour: 20 });
  await seedUser(kv, "utc-14", { timeZone: "UTC", hour: 14 });
  await seedUser(kv, "ny-10", {
    timeZone: "America/New_York",
    hour: 10,
    startedAt: "2026-04-30T15:00:00Z",
  });
  const report = await runDailySummaries(deps(kv, clock, {}), {
    now: AT,
    mode: "dry_run",
  });
  const days = Object.fromEntries(report.users.map((u) => [u.uid, u.date]));
  // New York is before noon, so it gets April 30.
  assertEquals(days, {
    "kolkata-20": "2026-05-01",
    "kathmandu-20": "2026-05-01",
    "utc-14": "2026-05-01",
    "ny-10": "2026-04-30",
  });
});

Deno.test("runDailySummaries(): overlapping runs share the process's 8 notify.user slots", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  const all = uids(20);
  for (const uid of all) await seedUser(kv, uid);
  const gated = gatedNotifier(all);
  const { push, gates, calls, order } = gated;
  const limiters = createDefaultLimiters();
  const shared = { ...deps(kv, clock, { push }), limiters };
  // Without the shared limiter each run's own window of 8 would put 16
  // distinct users in the notifier at once.
  const runs = [
    runDailySummaries(shared, { now: AT }),
    runDailySummaries(shared, { now: AT }),
  ];
  await calls.reached(8);
  assertEquals(gated.inFlight, 8);
  assertEquals(limiters.get("notify.user").inFlight, 8);
  for (let released = 0; released < all.length; released++) {
    await calls.reached(Math.min(8 + released, all.length));
    assertLessOrEqual(gated.inFlight, 8);
    gates.get(order[released])!.resolve();
  }
  const [a, b] = await Promise.all(runs);
  assertEquals(gated.maxInFlight, 8);
  assertEquals(a.totals.delivered + b.totals.delivered, 20);
  assertEquals(limiters.get("notify.user").inFlight, 0);
});

/**
 * A notifier that holds each user until the test opens its gate, counting
 * how many users are inside at once.
 */
function gatedNotifier(all: string[]) {
  const gates = new Map(all.map((uid) => [uid, Promise.withResolvers<void>()]));
  const calls = new Counter();
  const order: string[] = [];
  const state = {
    inFlight: 0,
    maxInFlight: 0,
    gates,
    calls,
    order,
    push: recordingNotifier(Object.fromEntries(all.map((uid) => [
      uid,
      async () => {
        state.inFlight++;
        state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
        order.push(uid);
        calls.increment();
        await gates.get(uid)!.promise;
        state.inFlight--;
        return { sent: 1, failed: 0 };
      },
    ]))),
  };
  return state;
}

Deno.test("runDailySummaries() skips a webhook-only user while webhooks are off, without a model call", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(AT.getTime());
  await seedUser(kv, "hook-only", {
    tokens: [],
    webhookUrl: "https://hooks.example.com/x",
  });
  const summarizer = scriptedSummarizer();
  for (const mode of ["dry_run", "live"] as const) {
    const report = await runDailySummaries(
      deps(kv, clock, { summarizer, webhook: null }),
      { now: AT, mode },
    );
    assertEquals(report.users.map((u) => u.status), ["skipped"]);
    assertEquals(
      report.users.map((u) => "reason" in u ? u.reason : undefined),
      ["no_delivery_target"],
    );
  }
  assertEquals(summarizer.calls, []);
});
