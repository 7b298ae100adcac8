/**
 * A {@linkcode Notifier} that sends the daily summary push to each of the
 * user's tokens through the FCM HTTP v1 API
 * (`POST {endpoint}/v1/projects/{project}/messages:send`).
 *
 * @module
 */
import type { Notifier } from "./notifier.ts";

/** The public FCM endpoint. */
export const FCM_ENDPOINT = "https://fcm.googleapis.com";

/** Options of {@linkcode createFcmNotifier}. */
export interface FcmNotifierOptions {
  /** Firebase project id. */
  projectId: string;
  /** An OAuth 2 access token with the `firebase.messaging` scope. */
  accessToken: (signal: AbortSignal) => Promise<string>;
  /** Default {@linkcode FCM_ENDPOINT}; tests point it at a stub. */
  endpoint?: string;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * Creates the FCM notifier. Each token gets one message with a
 * `notification` (title, body) and the reference's `data` payload; the
 * tokens of a user are sent in parallel. It rejects when no token accepted
 * the message, naming each token's error.
 *
 * @example
 * ```ts ignore
 * const push = createFcmNotifier({ projectId: "omi", accessToken });
 * await push.send(delivery, { signal });
 * ```
 */
export function createFcmNotifier(options: FcmNotifierOptions): Notifier {
  const fetchFn = options.fetch ?? fetch;
  const url = `${
    (options.endpoint ?? FCM_ENDPOINT).replace(/\/+$/, "")
  }/v1/projects/${encodeURIComponent(options.projectId)}/messages:send`;
  return {
    async send(delivery, { signal }) {
      if (delivery.fcmTokens.length === 0) return { sent: 0, failed: 0 };
      const token = await options.accessToken(signal);
      const results = await Promise.allSettled(
        delivery.fcmTokens.map(async (fcmToken) => {
          const response = await fetchFn(url, {
            method: "POST",
            signal,
            headers: {
              Authorization: `Bearer ${token}`,
              "Content-Type": "application/json",
            },
            body: JSON.stringify({
              message: {
                token: fcmToken,
                notification: { title: delivery.title, body: delivery.body },
                data: delivery.data,
              },
            }),
          });
          const text = await response.text();
          if (!response.ok) {
            throw new Error(`${response.status} ${fcmStatus(text)}`);
          }
        }),
      );
      const failures = results.filter((r) => r.status === "rejected");
      if (failures.length === results.length) {
        throw new Error(
          `FCM refused every token of "${delivery.uid}": ${
            failures.map((f) => String(f.reason?.message ?? f.reason)).join(
              "; ",
            )
          }`,
        );
      }
      return {
        sent: results.length - failures.length,
        failed: failures.length,
      };
    },
  };
}

/** The `error.status` of an FCM error body (e.g. `UNREGISTERED`), else its start. */
function fcmStatus(text: string): string {
  try {
    const status = JSON.parse(text)?.error?.status;
    if (typeof status === "string") return status;
  } catch {
    // Not JSON: show the raw start below.
  }
  return text.slice(0, 200);
}
