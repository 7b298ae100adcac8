import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  recordingNotifier,
  scriptedSummarizer,
  seedUser,
  testNotificationDeps,
} from "../lib/notifications/_run_fixtures.ts";
import type { NotificationDeps } from "../lib/notifications/daily_summary_run.ts";
import { authHeader, makeTestApp } from "./test_utils.ts";

const SETTINGS = "/v1/users/me/notification-settings";
const RUN = "/v1/notifications/daily-summary/run";

/** The service's clock in these tests: the hour Kolkata users are due. */
const NOW = Date.parse("2026-05-01T14:30:00Z");

async function appWith(notifications: Partial<NotificationDeps> = {}) {
  // createApp mounts the notification routes with these dependencies.
  const deps = testNotificationDeps(notifications);
  // Time stands still: deadlines never fire, and a cancelled wait ends.
  const clock = {
    now: () => NOW,
    sleep: (_ms: number, signal?: AbortSignal) =>
      new Promise<void>((_, reject) =>
        signal?.addEventListener("abort", () => reject(signal.reason), {
          once: true,
        })
      ),
    random: () => 0.5,
  };
  const t = await makeTestApp({ notifications: deps, clock });
  return Object.assign(t, { notifications: deps });
}

async function put(
  t: Awaited<ReturnType<typeof appWith>>,
  uid: string,
  body: unknown,
) {
  return await t.app.request(SETTINGS, {
    method: "PUT",
    headers: { ...await authHeader(uid), "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("PUT then GET notification-settings round-trips the caller's settings", async () => {
  await using t = await appWith();
  const res = await put(t, "alice", {
    time_zone: "Asia/Kathmandu",
    daily_summary_hour: 21,
    fcm_tokens: ["tok-1", "tok-1", "tok-2"],
    webhook_url: "https://example.test/hook",
  });
  assertEquals(res.status, 200);
  await res.body?.cancel();
  const got = await t.app.request(SETTINGS, {
    headers: await authHeader("alice"),
  });
  const body = await got.json();
  assertEquals(body.time_zone, "Asia/Kathmandu");
  assertEquals(body.daily_summary_hour, 21);
  assertEquals(body.fcm_tokens, ["tok-1", "tok-2"]);
  assertEquals(body.webhook_url, "https://example.test/hook");
  // Another user has none.
  const bob = await t.app.request(SETTINGS, {
    headers: await authHeader("bob"),
  });
  assertEquals(bob.status, 404);
  assertEquals(await bob.json(), { detail: "Notification settings not found" });
});

Deno.test("PUT notification-settings refuses bad input and changes nothing", async () => {
  await using t = await appWith();
  const good = { time_zone: "UTC", daily_summary_hour: 8, fcm_tokens: ["a"] };
  (await put(t, "alice", good)).body?.cancel();
  const cases: [unknown, number, string][] = [
    ["{not json", 400, "not valid JSON"],
    [{ ...good, time_zone: "Mars/Olympus" }, 422, "time_zone"],
    [{ ...good, time_zone: "+05:30" }, 422, "time_zone"],
    [{ ...good, daily_summary_hour: 24 }, 422, "daily_summary_hour"],
    [{ ...good, daily_summary_hour: 7.5 }, 422, "daily_summary_hour"],
    [{ ...good, fcm_tokens: "a" }, 422, "fcm_tokens"],
    [{ ...good, webhook_url: "ftp://x" }, 422, "webhook_url"],
    [[1], 422, "JSON object"],
  ];
  for (const [body, status, detail] of cases) {
    const res = await put(t, "alice", body);
    assertEquals(res.status, status, JSON.stringify(body));
    assertStringIncludes((await res.json()).detail, detail);
  }
  const after = await (await t.app.request(SETTINGS, {
    headers: await authHeader("alice"),
  })).json();
  assertEquals(after.daily_summary_hour, 8);
  assertEquals(after.time_zone, "UTC");
});

Deno.test("notification routes need a token", async () => {
  await using t = await appWith();
  const res = await t.app.request(SETTINGS);
  assertEquals(res.status, 401);
  await res.body?.cancel();
});

Deno.test("POST daily-summary/run is for operators only", async () => {
  await using t = await appWith();
  const res = await t.app.request(RUN, {
    method: "POST",
    headers: await authHeader("alice"),
  });
  assertEquals(res.status, 403);
  assertStringIncludes((await res.json()).detail, "OPERATOR_UIDS");
});

Deno.test("POST daily-summary/run dry run reports users due at `now` without sending", async () => {
  const summarizer = scriptedSummarizer();
  const push = recordingNotifier();
  await using t = await appWith({ summarizer, push });
  // Settings through the route; the conversation straight into KV.
  (await put(t, "alice", {
    time_zone: "Asia/Kolkata",
    daily_summary_hour: 20,
    fcm_tokens: ["tok"],
  })).body?.cancel();
  await seedUser(t.deps.kv, "bob", { timeZone: "UTC", hour: 3 });
  await t.deps.kv.set(["conversations", "alice", "c1"], {
    id: "c1",
    started_at: "2026-05-01T05:00:00Z",
    transcript_segments: [{ text: "hi", start: 0, end: 5 }],
  });
  const res = await t.app.request(RUN, {
    method: "POST",
    headers: { ...await authHeader("operator") },
    body: JSON.stringify({ dry_run: true, now: "2026-05-01T14:30:00Z" }),
  });
  assertEquals(res.status, 200);
  const report = await res.json();
  assertEquals(report.mode, "dry_run");
  assertEquals(report.totals, {
    selected: 1,
    delivered: 0,
    skipped: 0,
    failed: 0,
    would_deliver: 1,
  });
  assertEquals(report.users[0].uid, "alice");
  assertEquals(report.users[0].date, "2026-05-01");
  assertEquals(summarizer.calls, []);
  assertEquals(push.calls, []);
});

Deno.test("POST daily-summary/run delivers, then a second run skips", async () => {
  const push = recordingNotifier();
  await using t = await appWith({ push });
  await seedUser(t.deps.kv, "alice");
  const run = async () =>
    await (await t.app.request(RUN, {
      method: "POST",
      headers: await authHeader("operator"),
      body: JSON.stringify({ now: "2026-05-01T14:30:00Z" }),
    })).json();
  const first = await run();
  assertEquals(first.totals.delivered, 1);
  assertEquals(first.users[0].status, "delivered");
  const second = await run();
  assertEquals(second.users[0].status, "skipped");
  assertEquals(second.users[0].reason, "already_sent");
  assertEquals(push.calls, ["alice"]);
});

Deno.test("POST daily-summary/run refuses a bad body and sends nothing", async () => {
  const push = recordingNotifier();
  await using t = await appWith({ push });
  await seedUser(t.deps.kv, "alice");
  for (
    const body of [
      '{"dry_run": "yes"}',
      '{"now": "yesterday"}',
      '{"now": "2026-05-01T14:30"}',
      '{"now": "1"}',
      '{"now": "2026-04-20T14:30:00Z"}',
      '{"strategy": "all-at-once"}',
      "[",
    ]
  ) {
    const res = await t.app.request(RUN, {
      method: "POST",
      headers: await authHeader("operator"),
      body,
    });
    assertEquals(res.status >= 400 && res.status < 500, true, body);
    assertEquals(typeof (await res.json()).detail, "string");
  }
  // alice is due at NOW: a run that had started would have pushed to her.
  assertEquals(push.calls, []);
  const ok = await t.app.request(RUN, {
    method: "POST",
    headers: await authHeader("operator"),
    body: JSON.stringify({ now: "2026-05-01T14:30:00Z" }),
  });
  assertEquals((await ok.json()).totals.delivered, 1);
});

Deno.test("PUT notification-settings refuses an internal webhook with 422 and keeps the saved settings", async () => {
  await using t = await appWith();
  const good = {
    time_zone: "Asia/Kolkata",
    daily_summary_hour: 20,
    webhook_url: "https://hooks.example.com/day",
  };
  assertEquals((await put(t, "bob", good)).status, 200);
  for (
    const webhook_url of [
      "http://hooks.example.com/day",
      "https://169.254.169.254/computeMetadata/v1/",
      "https://[::1]/",
      "https://localhost:8080/admin",
    ]
  ) {
    const res = await put(t, "bob", { ...good, webhook_url });
    assertEquals(res.status, 422, webhook_url);
    assertStringIncludes((await res.json()).detail, "webhook_url");
  }
  const saved = await (await t.app.request(SETTINGS, {
    headers: await authHeader("bob"),
  })).json();
  assertEquals(saved.webhook_url, good.webhook_url);
});
