/**
 * A {@linkcode Notifier} that posts `day_summary` to the user's webhook
 * (reference section 8): the legacy stringified summary under `summary` and
 * the structured one under `summary_json`.
 *
 * @module
 */
import type { Notifier } from "./notifier.ts";

/** Options of {@linkcode createWebhookNotifier}. */
export interface WebhookNotifierOptions {
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * Creates the webhook notifier. A user without a webhook URL is a no-op;
 * a non-2xx answer rejects.
 *
 * The body is `{"type": "day_summary", "uid", "date", "summary_id",
 * "summary": "<title>\n\n<body>", "summary_json": {...}}`.
 */
export function createWebhookNotifier(
  options: WebhookNotifierOptions = {},
): Notifier {
  const fetchFn = options.fetch ?? fetch;
  return {
    async send(delivery, { signal }) {
      if (!delivery.webhookUrl) return { sent: 0, failed: 0 };
      const response = await fetchFn(delivery.webhookUrl, {
        method: "POST",
        signal,
        // A redirect could point inward, past the check on the saved URL.
        redirect: "manual",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          type: "day_summary",
          uid: delivery.uid,
          date: delivery.dateStr,
          summary_id: delivery.summaryId,
          summary: `${delivery.title}\n\n${delivery.body}`,
          summary_json: delivery.summary,
        }),
      });
      await response.body?.cancel();
      if (!response.ok) {
        throw new Error(
          `Webhook of "${delivery.uid}" answered ${response.status}`,
        );
      }
      return { sent: 1, failed: 0 };
    },
  };
}
