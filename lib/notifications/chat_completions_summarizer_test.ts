import { assertEquals, assertRejects } from "@std/assert";
import { stubServer } from "./_test_helpers.ts";
import { createChatCompletionsSummarizer } from "./chat_completions_summarizer.ts";
import type { SummaryInput } from "./summarizer.ts";

const INPUT: SummaryInput = {
  uid: "alice",
  dateStr: "2026-05-01",
  timeZone: "Asia/Kolkata",
  conversations: [{
    id: "c1",
    started_at: "2026-05-01T05:00:00Z",
    is_locked: false,
    discarded: false,
    transcript_segments: [{
      text: "Let's ship it",
      start: 0,
      end: 2,
      speaker: "SPEAKER_0",
    }],
  }],
};
const signal = new AbortController().signal;

function reply(content: string) {
  return Response.json({
    choices: [{ message: { role: "assistant", content } }],
  });
}

Deno.test("chat completions summarizer sends the transcript and parses the JSON reply", async () => {
  await using stub = stubServer(() =>
    reply('{"day_emoji":"🚀","headline":"Ship day","overview":"You shipped."}')
  );
  const summarizer = createChatCompletionsSummarizer({
    baseUrl: `${stub.url}/v1/`,
    apiKey: "sk-test",
    model: "test-model",
  });
  const content = await summarizer.summarize(INPUT, { signal });
  assertEquals(content, {
    day_emoji: "🚀",
    headline: "Ship day",
    overview: "You shipped.",
  });
  const request = stub.requests[0];
  assertEquals(request.path, "/v1/chat/completions");
  assertEquals(request.headers.get("authorization"), "Bearer sk-test");
  const body = JSON.parse(request.body);
  assertEquals(body.model, "test-model");
  assertEquals(body.response_format, { type: "json_object" });
  assertEquals(
    body.messages[1].content.includes("SPEAKER_0: Let's ship it"),
    true,
  );
});

Deno.test("chat completions summarizer rejects an error status or a non-object reply", async () => {
  let answer = () => new Response("rate limited", { status: 429 });
  await using stub = stubServer(() => answer());
  const summarizer = createChatCompletionsSummarizer({
    baseUrl: stub.url,
    model: "m",
  });
  await assertRejects(
    () => summarizer.summarize(INPUT, { signal }),
    Error,
    "chat completions answered 429",
  );
  answer = () => reply("[1, 2]");
  await assertRejects(
    () => summarizer.summarize(INPUT, { signal }),
    Error,
    "not a JSON object",
  );
  answer = () => reply("plain words");
  await assertRejects(
    () => summarizer.summarize(INPUT, { signal }),
    Error,
    "not JSON",
  );
});
