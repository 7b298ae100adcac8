import { assertEquals } from "@std/assert";
import type { ListedChunk } from "../storage/keys.ts";
import { groupChunks } from "./group_chunks.ts";

function chunk(timestamp: number): ListedChunk {
  return {
    timestamp,
    first: timestamp,
    last: timestamp,
    ext: "opus",
    isBatch: false,
    key: `chunks/u/c/${timestamp.toFixed(3)}.opus`,
    size: 100,
  };
}

Deno.test("groupChunks() opens a new file only when a start is more than 90 s after the previous one", () => {
  const base = 1_717_171_700;
  const listing = [0, 5, 10, 100, 190.001, 195].map((d) => chunk(base + d));
  const groups = groupChunks(listing).map((g) =>
    g.map((c) => c.timestamp - base)
  );
  // 10 -> 100 is exactly 90 s: same file; 100 -> 190.001 is over: new file.
  assertEquals(groups.length, 2);
  assertEquals(groups[0].length, 4);
  assertEquals(groups[1].length, 2);
  assertEquals(Math.round(groups[1][0] * 1000), 190_001);
});

Deno.test("groupChunks() returns no files for no chunks", () => {
  assertEquals(groupChunks([]), []);
});
