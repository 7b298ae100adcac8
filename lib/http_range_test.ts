import { assertEquals, assertThrows } from "@std/assert";
import { HttpError } from "./http_error.ts";
import { parseRange } from "./http_range.ts";

Deno.test("parseRange() accepts the three single-range forms and clamps the end", () => {
  assertEquals(parseRange(undefined, 100), null);
  assertEquals(parseRange("bytes=0-9", 100), { start: 0, end: 9 });
  assertEquals(parseRange("bytes=90-", 100), { start: 90, end: 99 });
  assertEquals(parseRange("bytes=-10", 100), { start: 90, end: 99 });
  assertEquals(parseRange("bytes=50-1000", 100), { start: 50, end: 99 });
  assertEquals(parseRange("bytes=-100", 100), { start: 0, end: 99 });
});

Deno.test("parseRange() answers 416 with Content-Range bytes */size for everything else", () => {
  for (
    const header of [
      "bytes=0-1,5-6",
      "items=0-1",
      "bytes=",
      "bytes=-",
      "bytes=a-b",
      "bytes=100-",
      "bytes=100-200",
      "bytes=9-3",
      "bytes=-101",
      "bytes=-0",
    ]
  ) {
    const error = assertThrows(() => parseRange(header, 100), HttpError);
    assertEquals(error.status, 416, header);
    assertEquals(error.headers["Content-Range"], "bytes */100", header);
  }
});
