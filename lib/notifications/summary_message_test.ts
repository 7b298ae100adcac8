import { assertEquals } from "@std/assert";
import { buildSummaryMessage, truncateBody } from "./summary_message.ts";

Deno.test("buildSummaryMessage() uses defaults only when a key is missing", () => {
  assertEquals(buildSummaryMessage({}, "s").title, "📅 Your Daily Summary");
  assertEquals(
    buildSummaryMessage({}, "s").body,
    "Tap to see your daily summary",
  );
  const empty = buildSummaryMessage(
    { day_emoji: "", headline: "", overview: "" },
    "s",
  );
  assertEquals(empty.title, " ");
  assertEquals(empty.body, "");
  assertEquals(
    buildSummaryMessage({ day_emoji: "🎉", headline: "Launch day" }, "s").title,
    "🎉 Launch day",
  );
  assertEquals(buildSummaryMessage({ headline: null }, "s").title, "📅 ");
});

Deno.test("truncateBody() keeps 150 code points and cuts 151 to 147 plus ...", () => {
  const exactly150 = "a".repeat(150);
  assertEquals(truncateBody(exactly150), exactly150);
  const long = "b".repeat(151);
  assertEquals(truncateBody(long), "b".repeat(147) + "...");
  assertEquals(Array.from(truncateBody(long)).length, 150);
});

Deno.test("truncateBody() counts an emoji as one code point", () => {
  // 150 emoji are 300 UTF-16 units but 150 code points: not cut.
  const emoji150 = "😀".repeat(150);
  assertEquals(emoji150.length, 300);
  assertEquals(truncateBody(emoji150), emoji150);
  const emoji151 = "😀".repeat(151);
  assertEquals(truncateBody(emoji151), "😀".repeat(147) + "...");
  // Cutting never splits a surrogate pair.
  const mixed = "x".repeat(146) + "😀😀😀😀😀";
  assertEquals(truncateBody(mixed), "x".repeat(146) + "😀...");
});

Deno.test("buildSummaryMessage() gives the reference push data, all strings", () => {
  const overview = "o".repeat(200);
  const message = buildSummaryMessage({ overview }, "sum-42");
  assertEquals(message.data, {
    type: "day_summary",
    notification_type: "daily_summary",
    navigate_to: "/daily-summary/sum-42",
    from_integration: "false",
    text: "o".repeat(147) + "...",
  });
  assertEquals(
    Object.values(message.data).every((v) => typeof v === "string"),
    true,
  );
});
