import { assertEquals } from "@std/assert";
import {
  listConversationsStartedIn,
  summarizableDay,
  type SummaryConversation,
} from "./conversations_for_summary.ts";

const WINDOW = {
  start: new Date("2026-05-01T00:00:00Z"),
  end: new Date("2026-05-02T00:00:00Z"),
};

Deno.test("listConversationsStartedIn() reads the window, oldest first, tolerating missing fields", async () => {
  using kv = await Deno.openKv(":memory:");
  await kv.set(["conversations", "u", "late"], {
    id: "late",
    started_at: "2026-05-01T23:59:59.999999Z",
    transcript_segments: [{ text: "bye", start: 0, end: 1 }, { nope: 1 }],
  });
  await kv.set(["conversations", "u", "early"], {
    started_at: "2026-05-01T00:00:00Z",
  });
  await kv.set(["conversations", "u", "next-day"], {
    started_at: "2026-05-02T00:00:00Z",
  });
  await kv.set(["conversations", "u", "no-start"], { started_at: null });
  await kv.set(["conversations", "u", "junk"], "not an object");
  await kv.set(["conversations", "other", "x"], {
    started_at: "2026-05-01T10:00:00Z",
  });
  const found = await listConversationsStartedIn(kv, "u", WINDOW);
  assertEquals(found.map((c) => c.id), ["early", "late"]);
  assertEquals(found[0], {
    id: "early",
    started_at: "2026-05-01T00:00:00Z",
    is_locked: false,
    discarded: false,
    transcript_segments: [],
  });
  assertEquals(found[1].transcript_segments, [{
    text: "bye",
    start: 0,
    end: 1,
  }]);
});

function conversation(
  overrides: Partial<SummaryConversation>,
): SummaryConversation {
  return {
    id: "c",
    started_at: "2026-05-01T10:00:00Z",
    is_locked: false,
    discarded: false,
    transcript_segments: [{ text: "hi", start: 0, end: 1 }],
    ...overrides,
  };
}

Deno.test("summarizableDay() drops locked conversations and needs a non-discarded transcript", () => {
  assertEquals(summarizableDay([]), {
    status: "skip",
    reason: "no_conversations",
  });
  assertEquals(summarizableDay([conversation({ is_locked: true })]), {
    status: "skip",
    reason: "no_conversations",
  });
  assertEquals(
    summarizableDay([
      conversation({ discarded: true }),
      conversation({ transcript_segments: [] }),
    ]),
    { status: "skip", reason: "no_transcript" },
  );
  const keep = conversation({ id: "keep" });
  assertEquals(
    summarizableDay([conversation({ is_locked: true }), keep]),
    { status: "summarize", conversations: [keep] },
  );
});
