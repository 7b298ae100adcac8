/**
 * The title, body and FCM data of a daily summary notification (reference
 * section 8). Lengths count code points, as Python's `len` does, so an emoji
 * is one character here as it was in the original.
 *
 * @module
 */
import type { SummaryContent } from "./summarizer.ts";

/** Title emoji when the summary has no `day_emoji` key (reference section 8). */
export const DEFAULT_DAY_EMOJI = "📅";
/** Title text when the summary has no `headline` key (reference section 8). */
export const DEFAULT_HEADLINE = "Your Daily Summary";
/** Body when the summary has no `overview` key (reference section 8). */
export const DEFAULT_OVERVIEW = "Tap to see your daily summary";
/** A longer body is cut (reference section 8). */
export const MAX_BODY_CODE_POINTS = 150;
/** Code points kept of a cut body, before `...` (reference section 8). */
export const TRUNCATED_BODY_CODE_POINTS = 147;

/** What is pushed for one summary. */
export interface SummaryMessage {
  title: string;
  body: string;
  /** FCM data: every value is a string, as FCM requires. */
  data: Record<string, string>;
}

/**
 * Builds the notification of a stored summary.
 *
 * Defaults apply only when a key is missing (or `undefined`), as Python's
 * `dict.get(key, default)` does; a present empty string stays empty. A
 * present non-string value is printed (`null` as the empty string).
 *
 * @example
 * ```ts
 * import { buildSummaryMessage } from "./summary_message.ts";
 * const m = buildSummaryMessage({ headline: "Busy day" }, "s-1");
 * m.title; // "📅 Busy day"
 * m.data.navigate_to; // "/daily-summary/s-1"
 * ```
 */
export function buildSummaryMessage(
  content: SummaryContent,
  summaryId: string,
): SummaryMessage {
  const title = `${field(content, "day_emoji", DEFAULT_DAY_EMOJI)} ${
    field(content, "headline", DEFAULT_HEADLINE)
  }`;
  const body = truncateBody(field(content, "overview", DEFAULT_OVERVIEW));
  return {
    title,
    body,
    data: {
      type: "day_summary",
      notification_type: "daily_summary",
      navigate_to: `/daily-summary/${summaryId}`,
      from_integration: "false",
      text: body,
    },
  };
}

/**
 * `text` cut to {@linkcode TRUNCATED_BODY_CODE_POINTS} code points plus
 * `...` when longer than {@linkcode MAX_BODY_CODE_POINTS} code points.
 */
export function truncateBody(text: string): string {
  const codePoints = Array.from(text);
  if (codePoints.length <= MAX_BODY_CODE_POINTS) return text;
  return codePoints.slice(0, TRUNCATED_BODY_CODE_POINTS).join("") + "...";
}

function field(content: SummaryContent, key: string, fallback: string): string {
  const value = content[key];
  if (value === undefined) return fallback;
  if (value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}
