/**
 * The daily summary's configuration from environment variables, and the
 * {@linkcode NotificationDeps} built from it.
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `OPERATOR_UIDS` | comma-separated uids allowed to call `POST /v1/notifications/daily-summary/run` | none (every caller gets 403) |
 * | `NOTIFY_USER_DEADLINE_MS` | per-user deadline | 120000 |
 * | `NOTIFY_STRATEGY` | `rolling` or `batches` | `rolling` |
 * | `SUMMARY_LLM_BASE_URL` | OpenAI-compatible API root, e.g. `https://api.openai.com/v1`; unset: the built-in summarizer | unset |
 * | `SUMMARY_LLM_API_KEY` | bearer key of that API | unset |
 * | `SUMMARY_LLM_MODEL` | model name | `gpt-4o-mini` |
 * | `FCM_PROJECT_ID` | Firebase project; unset: pushes are only logged | unset |
 * | `FCM_SERVICE_ACCOUNT_JSON` | the service account key file's JSON text | required with `FCM_PROJECT_ID` |
 * | `FCM_ENDPOINT` | FCM API root | `https://fcm.googleapis.com` |
 * | `DAILY_SUMMARY_WEBHOOKS` | `on` or `off`: post to users' webhooks | `on` |
 *
 * @module
 */
import type { LogSink } from "../access_log.ts";
import { ConfigError } from "../config.ts";
import { createChatCompletionsSummarizer } from "./chat_completions_summarizer.ts";
import {
  DEFAULT_USER_DEADLINE_MS,
  type NotificationDeps,
} from "./daily_summary_run.ts";
import type { FanOutStrategy } from "./fan_out.ts";
import { createFcmNotifier, FCM_ENDPOINT } from "./fcm_notifier.ts";
import {
  type ServiceAccountKey,
  serviceAccountTokenSource,
} from "./google_access_token.ts";
import { logNotifier } from "./notifier.ts";
import { builtinSummarizer } from "./summarizer.ts";
import { createWebhookNotifier } from "./webhook_notifier.ts";

/** A cheap model that follows JSON instructions well. */
export const DEFAULT_SUMMARY_MODEL = "gpt-4o-mini";

/** The validated configuration of the daily summary. */
export interface NotificationConfig {
  operatorUids: Set<string>;
  userDeadlineMs: number;
  strategy: FanOutStrategy;
  llm: { baseUrl: string; apiKey?: string; model: string } | null;
  fcm: { projectId: string; key: ServiceAccountKey; endpoint: string } | null;
  webhooks: "on" | "off";
}

/**
 * Reads and validates the variables in the table above; throws a
 * {@linkcode ConfigError} naming the first bad one.
 */
export function loadNotificationConfig(
  env: Record<string, string | undefined>,
): NotificationConfig {
  const operatorUids = new Set(
    (env.OPERATOR_UIDS ?? "").split(",").map((s) => s.trim()).filter(Boolean),
  );
  const deadlineText = env.NOTIFY_USER_DEADLINE_MS;
  const userDeadlineMs = deadlineText === undefined
    ? DEFAULT_USER_DEADLINE_MS
    : Number(deadlineText);
  if (!Number.isInteger(userDeadlineMs) || userDeadlineMs < 1) {
    throw new ConfigError(
      "NOTIFY_USER_DEADLINE_MS",
      `must be a positive integer of milliseconds, got "${deadlineText}"`,
    );
  }
  const strategy = env.NOTIFY_STRATEGY ?? "rolling";
  if (strategy !== "rolling" && strategy !== "batches") {
    throw new ConfigError(
      "NOTIFY_STRATEGY",
      `must be "rolling" or "batches", got "${strategy}"`,
    );
  }
  const webhooks = env.DAILY_SUMMARY_WEBHOOKS ?? "on";
  if (webhooks !== "on" && webhooks !== "off") {
    throw new ConfigError(
      "DAILY_SUMMARY_WEBHOOKS",
      `must be "on" or "off", got "${webhooks}"`,
    );
  }
  return {
    operatorUids,
    userDeadlineMs,
    strategy,
    llm: llmConfig(env),
    fcm: fcmConfig(env),
    webhooks,
  };
}

function llmConfig(
  env: Record<string, string | undefined>,
): NotificationConfig["llm"] {
  const baseUrl = env.SUMMARY_LLM_BASE_URL;
  if (!baseUrl) return null;
  if (!URL.canParse(baseUrl) || !/^https?:/.test(baseUrl)) {
    throw new ConfigError(
      "SUMMARY_LLM_BASE_URL",
      `must be an http or https URL, got "${baseUrl}"`,
    );
  }
  return {
    baseUrl,
    apiKey: env.SUMMARY_LLM_API_KEY || undefined,
    model: env.SUMMARY_LLM_MODEL || DEFAULT_SUMMARY_MODEL,
  };
}

function fcmConfig(
  env: Record<string, string | undefined>,
): NotificationConfig["fcm"] {
  const projectId = env.FCM_PROJECT_ID;
  if (!projectId) return null;
  const keyText = env.FCM_SERVICE_ACCOUNT_JSON;
  if (!keyText) {
    throw new ConfigError(
      "FCM_SERVICE_ACCOUNT_JSON",
      "must hold the service account key JSON when FCM_PROJECT_ID is set",
    );
  }
  let key: ServiceAccountKey;
  try {
    key = JSON.parse(keyText);
  } catch {
    throw new ConfigError("FCM_SERVICE_ACCOUNT_JSON", "is not valid JSON");
  }
  if (
    typeof key?.client_email !== "string" ||
    typeof key?.private_key !== "string"
  ) {
    throw new ConfigError(
      "FCM_SERVICE_ACCOUNT_JSON",
      "must have client_email and private_key",
    );
  }
  return { projectId, key, endpoint: env.FCM_ENDPOINT || FCM_ENDPOINT };
}

/**
 * Builds the summarizer and notifiers named by `config`: the chat
 * completions summarizer or the built-in one, FCM or the log notifier, the
 * webhook notifier unless turned off.
 */
export function createNotificationDeps(
  config: NotificationConfig,
  options: { log: LogSink; fetch?: typeof fetch },
): NotificationDeps {
  const summarizer = config.llm
    ? createChatCompletionsSummarizer({ ...config.llm, fetch: options.fetch })
    : builtinSummarizer();
  const push = config.fcm
    ? createFcmNotifier({
      projectId: config.fcm.projectId,
      endpoint: config.fcm.endpoint,
      accessToken: serviceAccountTokenSource(config.fcm.key, {
        fetch: options.fetch,
      }),
      fetch: options.fetch,
    })
    : logNotifier(options.log);
  return {
    summarizer,
    push,
    webhook: config.webhooks === "on"
      ? createWebhookNotifier({ fetch: options.fetch })
      : null,
    operatorUids: config.operatorUids,
    userDeadlineMs: config.userDeadlineMs,
    strategy: config.strategy,
  };
}
