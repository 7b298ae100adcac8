import { assertEquals, assertThrows } from "@std/assert";
import { ConfigError } from "../config.ts";
import {
  createNotificationDeps,
  loadNotificationConfig,
} from "./notification_config.ts";
import { DEFAULT_USER_DEADLINE_MS } from "./daily_summary_run.ts";

Deno.test("loadNotificationConfig() defaults to the built-in summarizer and logged pushes", async () => {
  const config = loadNotificationConfig({});
  assertEquals(config.operatorUids.size, 0);
  assertEquals(config.userDeadlineMs, DEFAULT_USER_DEADLINE_MS);
  assertEquals(config.strategy, "rolling");
  assertEquals(config.llm, null);
  assertEquals(config.fcm, null);
  const logs: Record<string, unknown>[] = [];
  const deps = createNotificationDeps(config, { log: (e) => logs.push(e) });
  const report = await deps.push.send({
    uid: "u",
    dateStr: "2026-05-01",
    summaryId: "s",
    fcmTokens: ["a", "b"],
    webhookUrl: null,
    title: "t",
    body: "b",
    data: {},
    summary: {},
  }, { signal: new AbortController().signal });
  assertEquals(report, { sent: 2, failed: 0 });
  assertEquals(logs[0].msg, "daily summary push (log notifier)");
});

Deno.test("loadNotificationConfig() reads operators, deadline, strategy and the model", () => {
  const config = loadNotificationConfig({
    OPERATOR_UIDS: " ops-1, ops-2 ,",
    NOTIFY_USER_DEADLINE_MS: "5000",
    NOTIFY_STRATEGY: "batches",
    SUMMARY_LLM_BASE_URL: "https://llm.example/v1",
    SUMMARY_LLM_API_KEY: "sk",
  });
  assertEquals([...config.operatorUids], ["ops-1", "ops-2"]);
  assertEquals(config.userDeadlineMs, 5000);
  assertEquals(config.strategy, "batches");
  assertEquals(config.llm, {
    baseUrl: "https://llm.example/v1",
    apiKey: "sk",
    model: "gpt-4o-mini",
  });
});

Deno.test("loadNotificationConfig() names the bad variable", () => {
  const cases: [Record<string, string>, string][] = [
    [{ NOTIFY_USER_DEADLINE_MS: "soon" }, "NOTIFY_USER_DEADLINE_MS"],
    [{ NOTIFY_STRATEGY: "all" }, "NOTIFY_STRATEGY"],
    [{ SUMMARY_LLM_BASE_URL: "llm.example" }, "SUMMARY_LLM_BASE_URL"],
    [{ FCM_PROJECT_ID: "p" }, "FCM_SERVICE_ACCOUNT_JSON"],
    [
      { FCM_PROJECT_ID: "p", FCM_SERVICE_ACCOUNT_JSON: "{" },
      "FCM_SERVICE_ACCOUNT_JSON",
    ],
    [{ DAILY_SUMMARY_WEBHOOKS: "maybe" }, "DAILY_SUMMARY_WEBHOOKS"],
  ];
  for (const [env, variable] of cases) {
    const error = assertThrows(() => loadNotificationConfig(env), ConfigError);
    assertEquals(error.variable, variable);
  }
});
