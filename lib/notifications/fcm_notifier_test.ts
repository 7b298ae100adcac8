import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { stubServer } from "./_test_helpers.ts";
import { createFcmNotifier } from "./fcm_notifier.ts";
import type { DailySummaryDelivery } from "./notifier.ts";
import { buildSummaryMessage } from "./summary_message.ts";

function delivery(tokens: string[]): DailySummaryDelivery {
  const message = buildSummaryMessage(
    { day_emoji: "🌞", headline: "Sunny", overview: "A good day" },
    "sum-1",
  );
  return {
    uid: "alice",
    dateStr: "2026-05-01",
    summaryId: "sum-1",
    fcmTokens: tokens,
    webhookUrl: null,
    ...message,
    summary: {},
  };
}

const signal = () => new AbortController().signal;

Deno.test("FCM notifier posts the HTTP v1 message with string data to each token", async () => {
  await using stub = stubServer(() =>
    Response.json({ name: "projects/p/messages/1" })
  );
  const push = createFcmNotifier({
    projectId: "omi-test",
    endpoint: stub.url,
    accessToken: () => Promise.resolve("access-123"),
  });
  const report = await push.send(delivery(["tok-a", "tok-b"]), {
    signal: signal(),
  });
  assertEquals(report, { sent: 2, failed: 0 });
  assertEquals(stub.requests.length, 2);
  for (const request of stub.requests) {
    assertEquals(request.method, "POST");
    assertEquals(request.path, "/v1/projects/omi-test/messages:send");
    assertEquals(request.headers.get("authorization"), "Bearer access-123");
  }
  const bodies = stub.requests.map((r) => JSON.parse(r.body));
  assertEquals(bodies.map((b) => b.message.token).sort(), ["tok-a", "tok-b"]);
  assertEquals(bodies[0].message.notification, {
    title: "🌞 Sunny",
    body: "A good day",
  });
  assertEquals(bodies[0].message.data, {
    type: "day_summary",
    notification_type: "daily_summary",
    navigate_to: "/daily-summary/sum-1",
    from_integration: "false",
    text: "A good day",
  });
  for (const value of Object.values(bodies[0].message.data)) {
    assertEquals(typeof value, "string");
  }
});

Deno.test("FCM notifier counts a refused token and rejects when every token is refused", async () => {
  await using stub = stubServer((request) =>
    JSON.parse(request.body).message.token === "good"
      ? Response.json({ name: "ok" })
      : Response.json({ error: { status: "UNREGISTERED" } }, { status: 404 })
  );
  const push = createFcmNotifier({
    projectId: "p",
    endpoint: stub.url,
    accessToken: () => Promise.resolve("t"),
  });
  assertEquals(
    await push.send(delivery(["good", "stale"]), { signal: signal() }),
    { sent: 1, failed: 1 },
  );
  const error = await assertRejects(() =>
    push.send(delivery(["stale"]), { signal: signal() })
  );
  assertStringIncludes((error as Error).message, "404 UNREGISTERED");
});

Deno.test("FCM notifier stops when its signal aborts", async () => {
  const held = Promise.withResolvers<void>();
  const arrived = Promise.withResolvers<void>();
  await using stub = stubServer(async () => {
    arrived.resolve();
    await held.promise;
    return Response.json({});
  });
  const push = createFcmNotifier({
    projectId: "p",
    endpoint: stub.url,
    accessToken: () => Promise.resolve("t"),
  });
  const controller = new AbortController();
  const sending = push.send(delivery(["tok"]), { signal: controller.signal });
  await arrived.promise;
  controller.abort(new Error("deadline"));
  await assertRejects(() => sending, Error, "FCM refused every token");
  held.resolve();
});
