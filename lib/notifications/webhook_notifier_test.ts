import { assertEquals, assertRejects } from "@std/assert";
import { stubServer } from "./_test_helpers.ts";
import { createWebhookNotifier } from "./webhook_notifier.ts";
import type { DailySummaryDelivery } from "./notifier.ts";

const DELIVERY: DailySummaryDelivery = {
  uid: "alice",
  dateStr: "2026-05-01",
  summaryId: "sum-1",
  fcmTokens: [],
  webhookUrl: null,
  title: "📅 Day",
  body: "Overview",
  data: {},
  summary: { headline: "Day", overview: "Overview", extra: [1, 2] },
};
const signal = new AbortController().signal;

Deno.test("webhook notifier posts day_summary with the stringified and JSON summary", async () => {
  await using stub = stubServer(() => new Response(null, { status: 204 }));
  const hook = createWebhookNotifier();
  const report = await hook.send(
    { ...DELIVERY, webhookUrl: `${stub.url}/hook` },
    { signal },
  );
  assertEquals(report, { sent: 1, failed: 0 });
  assertEquals(stub.requests[0].path, "/hook");
  assertEquals(JSON.parse(stub.requests[0].body), {
    type: "day_summary",
    uid: "alice",
    date: "2026-05-01",
    summary_id: "sum-1",
    summary: "📅 Day\n\nOverview",
    summary_json: { headline: "Day", overview: "Overview", extra: [1, 2] },
  });
});

Deno.test("webhook notifier rejects a non-2xx answer and skips a user without a URL", async () => {
  await using stub = stubServer(() => new Response("no", { status: 500 }));
  const hook = createWebhookNotifier();
  await assertRejects(
    () => hook.send({ ...DELIVERY, webhookUrl: stub.url }, { signal }),
    Error,
    'Webhook of "alice" answered 500',
  );
  assertEquals(await hook.send(DELIVERY, { signal }), { sent: 0, failed: 0 });
});
