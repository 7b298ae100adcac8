/**
 * The `Notifier` interface that delivers a daily summary, and a notifier
 * that only logs, for development without FCM.
 *
 * @module
 */
import type { LogSink } from "../access_log.ts";
import type { SummaryContent } from "./summarizer.ts";

/** Everything any notifier may need about one summary and its user. */
export interface DailySummaryDelivery {
  uid: string;
  /** `YYYY-MM-DD` of the summarized day. */
  dateStr: string;
  summaryId: string;
  fcmTokens: string[];
  webhookUrl: string | null;
  title: string;
  body: string;
  /** FCM data payload; every value is a string. */
  data: Record<string, string>;
  /** The summary content as the summarizer returned it. */
  summary: SummaryContent;
}

/** How a delivery went for the targets that were tried. */
export interface DeliveryReport {
  /** Targets (tokens, webhooks) that accepted the message. */
  sent: number;
  /** Targets that refused it, e.g. an unregistered token. */
  failed: number;
}

/** Options of {@linkcode Notifier.send}. */
export interface SendOptions {
  /** Aborts when the user's deadline passes or the run stops. */
  signal: AbortSignal;
}

/** Delivers a daily summary through one channel. */
export interface Notifier {
  /**
   * Sends `delivery`; resolves when at least one target accepted it and
   * rejects when none did.
   */
  send(
    delivery: DailySummaryDelivery,
    options: SendOptions,
  ): Promise<DeliveryReport>;
}

/**
 * A notifier that writes the push it would send to the log and counts every
 * token as sent: `deno task dev` has no FCM project.
 */
export function logNotifier(log: LogSink): Notifier {
  return {
    send(delivery, { signal }) {
      signal.throwIfAborted();
      log({
        time: new Date().toISOString(),
        level: "info",
        msg: "daily summary push (log notifier)",
        uid: delivery.uid,
        date: delivery.dateStr,
        tokens: delivery.fcmTokens.length,
        title: delivery.title,
        body: delivery.body,
      });
      return Promise.resolve({ sent: delivery.fcmTokens.length, failed: 0 });
    },
  };
}
