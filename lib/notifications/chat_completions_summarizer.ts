/**
 * A {@linkcode Summarizer} backed by an OpenAI-compatible chat completions
 * API (`POST {baseUrl}/chat/completions`), asking for a JSON object with
 * `day_emoji`, `headline` and `overview`.
 *
 * @module
 */
import type { Summarizer, SummaryContent, SummaryInput } from "./summarizer.ts";

/**
 * Transcript characters sent per day; keeps one request far below common
 * context windows (about 25k tokens) however much was recorded.
 */
export const MAX_TRANSCRIPT_CHARS = 100_000;

/** Options of {@linkcode createChatCompletionsSummarizer}. */
export interface ChatCompletionsOptions {
  /** API root, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; omitted when undefined. */
  apiKey?: string;
  /** Model name, e.g. `gpt-4o-mini`. */
  model: string;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
}

const SYSTEM_PROMPT =
  "You summarize a person's day from transcripts of their conversations. " +
  'Reply with one JSON object: {"day_emoji": one emoji for the day, ' +
  '"headline": at most 8 words, "overview": 2-3 sentences addressed to the ' +
  'person as "you"}. Do not invent facts.';

/**
 * Creates the HTTP summarizer.
 *
 * @example
 * ```ts ignore
 * const summarizer = createChatCompletionsSummarizer({
 *   baseUrl: "https://api.openai.com/v1",
 *   apiKey: Deno.env.get("SUMMARY_LLM_API_KEY"),
 *   model: "gpt-4o-mini",
 * });
 * ```
 */
export function createChatCompletionsSummarizer(
  options: ChatCompletionsOptions,
): Summarizer {
  const fetchFn = options.fetch ?? fetch;
  const url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  return {
    async summarize(input, { signal }) {
      const headers: Record<string, string> = {
        "Content-Type": "application/json",
      };
      if (options.apiKey) headers.Authorization = `Bearer ${options.apiKey}`;
      const response = await fetchFn(url, {
        method: "POST",
        headers,
        signal,
        body: JSON.stringify({
          model: options.model,
          response_format: { type: "json_object" },
          messages: [
            { role: "system", content: SYSTEM_PROMPT },
            { role: "user", content: transcriptPrompt(input) },
          ],
        }),
      });
      if (!response.ok) {
        const text = await response.text().catch(() => "");
        throw new Error(
          `Cannot summarize the day of "${input.uid}": chat completions answered ${response.status} ${
            text.slice(0, 200)
          }`,
        );
      }
      return parseContent(input.uid, await response.json());
    },
  };
}

function transcriptPrompt(input: SummaryInput): string {
  const parts = [`Date: ${input.dateStr} (${input.timeZone})`];
  let budget = MAX_TRANSCRIPT_CHARS;
  for (const conversation of input.conversations) {
    const lines = conversation.transcript_segments.map((s) =>
      `${s.speaker ?? "Speaker"}: ${s.text.trim()}`
    );
    const text = `\nConversation at ${conversation.started_at}:\n${
      lines.join("\n")
    }`;
    if (text.length > budget) {
      parts.push(text.slice(0, budget));
      break;
    }
    parts.push(text);
    budget -= text.length;
  }
  return parts.join("\n");
}

function parseContent(uid: string, body: unknown): SummaryContent {
  const content = (body as {
    choices?: { message?: { content?: unknown } }[];
  })?.choices?.[0]?.message?.content;
  if (typeof content !== "string") {
    throw new Error(
      `Cannot summarize the day of "${uid}": the reply has no choices[0].message.content`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    throw new Error(
      `Cannot summarize the day of "${uid}": the model's reply is not JSON`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(
      `Cannot summarize the day of "${uid}": the model's reply is not a JSON object`,
    );
  }
  return parsed as SummaryContent;
}
