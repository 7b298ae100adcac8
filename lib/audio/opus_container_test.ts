import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  containerPcmLength,
  OpusContainerError,
  readContainer,
  writeContainer,
} from "./opus_container.ts";

Deno.test("writeContainer() lays out count and length as uint32 LE, packets with uint16 LE lengths", () => {
  const packets = [new Uint8Array([0xaa, 0xbb, 0xcc]), new Uint8Array([])];
  const bytes = writeContainer(packets, 0x01020304);
  assertEquals(
    bytes,
    new Uint8Array([
      ...[2, 0, 0, 0], // packet_count
      ...[4, 3, 2, 1], // original_pcm_len
      ...[3, 0, 0xaa, 0xbb, 0xcc],
      ...[0, 0],
    ]),
  );
});

Deno.test("writeContainer() of no packets is the 8-byte header 0,0", () => {
  assertEquals(writeContainer([], 0), new Uint8Array(8));
});

Deno.test("writeContainer() writes a 300-byte packet length as 0x2c 0x01", () => {
  const bytes = writeContainer([new Uint8Array(300).fill(7)], 640);
  assertEquals([...bytes.subarray(0, 10)], [
    1,
    0,
    0,
    0,
    0x80,
    2,
    0,
    0,
    0x2c,
    1,
  ]);
  assertEquals(bytes.length, 8 + 2 + 300);
});

Deno.test("writeContainer() rejects oversized packets and bad lengths", () => {
  assertThrows(() => writeContainer([new Uint8Array(65536)], 0), RangeError);
  assertThrows(() => writeContainer([], -1), RangeError);
  assertThrows(() => writeContainer([], 2 ** 32), RangeError);
});

Deno.test("readContainer() reads back what writeContainer() wrote", () => {
  const packets = [
    new Uint8Array([1, 2, 3]),
    new Uint8Array(0),
    new Uint8Array(65535).fill(9),
  ];
  const read = readContainer(writeContainer(packets, 1234));
  assertEquals(read.originalPcmLen, 1234);
  assertEquals(read.packets, packets);
});

Deno.test("readContainer() works on a view with a byte offset and ignores trailing bytes", () => {
  const inner = writeContainer([new Uint8Array([5, 6])], 640);
  const outer = new Uint8Array(3 + inner.length + 4);
  outer.set(inner, 3);
  const read = readContainer(outer.subarray(3));
  assertEquals(read.packets, [new Uint8Array([5, 6])]);
  assertEquals(read.originalPcmLen, 640);
});

Deno.test("readContainer() reports too short and truncated input", () => {
  const full = writeContainer([new Uint8Array(10), new Uint8Array(10)], 1280);
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(0), "too short"],
    [new Uint8Array(7), "too short"],
    [full.subarray(0, 8), "truncated at packet 0 of 2 (length field missing)"],
    [full.subarray(0, 9), "truncated at packet 0 of 2 (length field missing)"],
    [
      full.subarray(0, 15),
      "truncated at packet 0 of 2 (needs 10 bytes, 5 left)",
    ],
    [full.subarray(0, 21), "truncated at packet 1 of 2 (length field missing)"],
    [full.subarray(0, full.length - 1), "truncated at packet 1 of 2"],
  ];
  for (const [bytes, why] of cases) {
    const error = assertThrows(() => readContainer(bytes), OpusContainerError);
    assertStringIncludes(error.message, "Cannot read opus container: ");
    assertStringIncludes(error.message, why);
    assertThrows(() => containerPcmLength(bytes), OpusContainerError, why);
  }
});

Deno.test("containerPcmLength() uses original_pcm_len only when 0 < len <= 640 × count", () => {
  const three = [new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)];
  assertEquals(containerPcmLength(writeContainer(three, 1500)), 1500);
  assertEquals(containerPcmLength(writeContainer(three, 1920)), 1920);
  // Larger than the frames can hold: the frames win.
  assertEquals(containerPcmLength(writeContainer(three, 1921)), 1920);
  // Zero means "unknown" in the original: the frames win.
  assertEquals(containerPcmLength(writeContainer(three, 0)), 1920);
  assertEquals(containerPcmLength(writeContainer([], 0)), 0);
  assertEquals(containerPcmLength(writeContainer([], 100)), 0);
});
