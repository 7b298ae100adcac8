/**
 * The `Summarizer` interface that turns a user's day of conversations into
 * summary content, and the deterministic built-in summarizer used when no
 * language model is configured.
 *
 * @module
 */
import type { SummaryConversation } from "./conversations_for_summary.ts";

/**
 * What a summarizer returns: `day_emoji`, `headline`, `overview` and
 * whatever else the model adds. Any key may be missing; the message rules
 * fill in defaults (reference section 8).
 */
export type SummaryContent = Record<string, unknown>;

/** One user's day to summarize. */
export interface SummaryInput {
  uid: string;
  /** `YYYY-MM-DD` of the local day. */
  dateStr: string;
  timeZone: string;
  /** Non-locked, non-discarded conversations with transcripts, oldest first. */
  conversations: SummaryConversation[];
}

/** Options of {@linkcode Summarizer.summarize}. */
export interface SummarizeOptions {
  /** Aborts when the user's deadline passes or the run stops. */
  signal: AbortSignal;
}

/** Builds the summary content of one user's day. */
export interface Summarizer {
  /** Summarizes `input`; rejects on failure or when `signal` aborts. */
  summarize(
    input: SummaryInput,
    options: SummarizeOptions,
  ): Promise<SummaryContent>;
}

/** Characters of a conversation's opening quoted in the built-in overview. */
const BUILTIN_QUOTE_CODE_POINTS = 60;

/**
 * A summarizer that needs no model: it counts the day's conversations and
 * their talk time and quotes the opening of the first one. The same input
 * always gives the same content, which keeps development and tests offline.
 *
 * @example
 * ```ts
 * import { builtinSummarizer } from "./summarizer.ts";
 * const content = await builtinSummarizer().summarize(
 *   { uid: "u", dateStr: "2026-05-01", timeZone: "UTC", conversations: [] },
 *   { signal: new AbortController().signal },
 * );
 * content.headline; // "No conversations"
 * ```
 */
export function builtinSummarizer(): Summarizer {
  return {
    summarize(input, options) {
      options.signal.throwIfAborted();
      const count = input.conversations.length;
      const seconds = input.conversations.reduce(
        (sum, c) => sum + talkSeconds(c),
        0,
      );
      const minutes = Math.round(seconds / 60);
      const headline = count === 0
        ? "No conversations"
        : `${count} conversation${count === 1 ? "" : "s"}, ${minutes} min`;
      const first = input.conversations[0]?.transcript_segments
        .map((s) => s.text.trim()).join(" ") ?? "";
      const quote = Array.from(first).slice(0, BUILTIN_QUOTE_CODE_POINTS)
        .join("");
      const overview = count === 0
        ? `Nothing was recorded on ${input.dateStr}.`
        : `On ${input.dateStr} you talked for about ${minutes} min. ` +
          `It started with: "${quote}${
            Array.from(first).length > BUILTIN_QUOTE_CODE_POINTS ? "…" : ""
          }"`;
      return Promise.resolve({
        day_emoji: "🗓️",
        headline,
        overview,
        conversation_count: count,
        date: input.dateStr,
      });
    },
  };
}

function talkSeconds(conversation: SummaryConversation): number {
  let seconds = 0;
  for (const segment of conversation.transcript_segments) {
    seconds += Math.max(0, segment.end - segment.start);
  }
  return seconds;
}
