import { assertEquals } from "@std/assert";
import { builtinSummarizer, type SummaryInput } from "./summarizer.ts";

const INPUT: SummaryInput = {
  uid: "alice",
  dateStr: "2026-05-01",
  timeZone: "UTC",
  conversations: [
    {
      id: "a",
      started_at: "2026-05-01T09:00:00Z",
      is_locked: false,
      discarded: false,
      transcript_segments: [
        { text: "Good morning", start: 0, end: 60 },
        { text: "team", start: 60, end: 120 },
      ],
    },
    {
      id: "b",
      started_at: "2026-05-01T15:00:00Z",
      is_locked: false,
      discarded: false,
      transcript_segments: [{ text: "Bye", start: 0, end: 60 }],
    },
  ],
};

Deno.test("builtinSummarizer() is deterministic and counts conversations and talk time", async () => {
  const signal = new AbortController().signal;
  const first = await builtinSummarizer().summarize(INPUT, { signal });
  const second = await builtinSummarizer().summarize(INPUT, { signal });
  assertEquals(first, second);
  assertEquals(first.headline, "2 conversations, 3 min");
  assertEquals(
    first.overview,
    'On 2026-05-01 you talked for about 3 min. It started with: "Good morning team"',
  );
});
