/**
 * A read-only view of the conversations store for the daily summary, and
 * the reference's skip rules (section 8).
 *
 * The store (`["conversations", uid, cid]`) belongs to the conversations
 * module; this view reads its values defensively, because older records may
 * lack fields.
 *
 * @module
 */

/** One transcript segment; `start` and `end` are seconds into the conversation. */
export interface SummarySegment {
  text: string;
  start: number;
  end: number;
  speaker?: string;
}

/** The parts of a conversation the summary needs. */
export interface SummaryConversation {
  id: string;
  started_at: string;
  is_locked: boolean;
  discarded: boolean;
  transcript_segments: SummarySegment[];
}

/** Why a user's day was not summarized. */
export type SummarySkipReason = "no_conversations" | "no_transcript";

/** The conversations to summarize, or why there are none. */
export type SummarizableDay =
  | { status: "summarize"; conversations: SummaryConversation[] }
  | { status: "skip"; reason: SummarySkipReason };

/**
 * The user's conversations whose `started_at` lies in `[start, end)`,
 * oldest first. Records without a parseable `started_at` are left out.
 */
export async function listConversationsStartedIn(
  kv: Deno.Kv,
  uid: string,
  window: { start: Date; end: Date },
): Promise<SummaryConversation[]> {
  const found: SummaryConversation[] = [];
  // A started_at index would avoid reading every conversation of the user;
  // the conversations store has none yet.
  for await (const entry of kv.list({ prefix: ["conversations", uid] })) {
    const conversation = normalize(entry.key.at(-1), entry.value);
    if (!conversation) continue;
    const started = Date.parse(conversation.started_at);
    if (started >= window.start.getTime() && started < window.end.getTime()) {
      found.push(conversation);
    }
  }
  return found.sort((a, b) =>
    Date.parse(a.started_at) - Date.parse(b.started_at)
  );
}

/**
 * Applies the skip rules: locked conversations are dropped; the day is
 * skipped when none remain, or when no remaining non-discarded conversation
 * has transcript segments. What is summarized is the non-discarded
 * conversations with segments.
 */
export function summarizableDay(
  conversations: SummaryConversation[],
): SummarizableDay {
  const unlocked = conversations.filter((c) => !c.is_locked);
  if (unlocked.length === 0) {
    return { status: "skip", reason: "no_conversations" };
  }
  const withTranscript = unlocked.filter((c) =>
    !c.discarded && c.transcript_segments.length > 0
  );
  if (withTranscript.length === 0) {
    return { status: "skip", reason: "no_transcript" };
  }
  return { status: "summarize", conversations: withTranscript };
}

function normalize(
  keyId: Deno.KvKeyPart | undefined,
  value: unknown,
): SummaryConversation | null {
  if (typeof value !== "object" || value === null) return null;
  const record = value as Record<string, unknown>;
  const startedAt = record.started_at;
  if (typeof startedAt !== "string" || Number.isNaN(Date.parse(startedAt))) {
    return null;
  }
  const id = typeof record.id === "string" ? record.id : String(keyId);
  const segments = Array.isArray(record.transcript_segments)
    ? record.transcript_segments.flatMap((s) => segment(s))
    : [];
  return {
    id,
    started_at: startedAt,
    is_locked: record.is_locked === true,
    discarded: record.discarded === true,
    transcript_segments: segments,
  };
}

function segment(value: unknown): SummarySegment[] {
  if (typeof value !== "object" || value === null) return [];
  const s = value as Record<string, unknown>;
  if (typeof s.text !== "string" || s.text.trim() === "") return [];
  return [{
    text: s.text,
    start: typeof s.start === "number" ? s.start : 0,
    end: typeof s.end === "number" ? s.end : 0,
    ...(typeof s.speaker === "string" ? { speaker: s.speaker } : {}),
  }];
}
