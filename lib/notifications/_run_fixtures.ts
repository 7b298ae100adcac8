/**
 * Fixtures of the run tests: users with settings and conversations in KV, a
 * scripted summarizer and a recording notifier.
 *
 * @module
 */
import type { Summarizer, SummaryContent } from "./summarizer.ts";
import type { DailySummaryDelivery, Notifier } from "./notifier.ts";
import { NotificationUsers } from "./notification_users.ts";
import type { NotificationDeps } from "./daily_summary_run.ts";

/** Stores a user's settings and one transcribed conversation started at `startedAt`. */
export async function seedUser(
  kv: Deno.Kv,
  uid: string,
  options: {
    timeZone?: string;
    hour?: number;
    tokens?: string[];
    webhookUrl?: string | null;
    startedAt?: string | null;
    conversation?: Record<string, unknown>;
  } = {},
): Promise<void> {
  await new NotificationUsers(kv).put(uid, {
    time_zone: options.timeZone ?? "Asia/Kolkata",
    daily_summary_hour: options.hour ?? 20,
    fcm_tokens: options.tokens ?? [`token-${uid}`],
    webhook_url: options.webhookUrl ?? null,
  }, { now: new Date("2026-05-01T00:00:00Z") });
  if (options.startedAt === null) return;
  await kv.set(["conversations", uid, `c-${uid}`], {
    id: `c-${uid}`,
    uid,
    started_at: options.startedAt ?? "2026-05-01T05:00:00Z",
    finished_at: null,
    is_locked: false,
    discarded: false,
    transcript_segments: [{ text: `hello from ${uid}`, start: 0, end: 90 }],
    audio_files: [],
    ...options.conversation,
  });
}

/** A summarizer whose behaviour per uid the test scripts. */
export function scriptedSummarizer(
  script: Record<
    string,
    (signal: AbortSignal) => Promise<SummaryContent>
  > = {},
): Summarizer & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    summarize(input, { signal }) {
      calls.push(input.uid);
      const scripted = script[input.uid];
      if (scripted) return scripted(signal);
      return Promise.resolve({
        day_emoji: "🌞",
        headline: `Day of ${input.uid}`,
        overview: `${input.conversations.length} conversation(s)`,
      });
    },
  };
}

/** A notifier that records deliveries and lets the test script failures. */
export function recordingNotifier(
  script: Record<
    string,
    (signal: AbortSignal) => Promise<{ sent: number; failed: number }>
  > = {},
): Notifier & { delivered: DailySummaryDelivery[]; calls: string[] } {
  const delivered: DailySummaryDelivery[] = [];
  const calls: string[] = [];
  return {
    delivered,
    calls,
    async send(delivery, { signal }) {
      calls.push(delivery.uid);
      const scripted = script[delivery.uid];
      const report = scripted
        ? await scripted(signal)
        : { sent: delivery.fcmTokens.length, failed: 0 };
      delivered.push(delivery);
      return report;
    },
  };
}

/** Notification deps for tests. */
export function testNotificationDeps(
  overrides: Partial<NotificationDeps> = {},
): NotificationDeps {
  return {
    summarizer: scriptedSummarizer(),
    push: recordingNotifier(),
    webhook: null,
    operatorUids: new Set(["operator"]),
    userDeadlineMs: 60_000,
    strategy: "rolling",
    ...overrides,
  };
}

/** A promise that rejects with the signal's reason when it aborts, and never resolves. */
export function hangUntilAborted<T>(signal: AbortSignal): Promise<T> {
  return new Promise<T>((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), {
      once: true,
    });
  });
}
