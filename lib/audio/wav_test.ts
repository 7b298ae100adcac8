import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  BYTES_PER_SECOND,
  parseWavHeader,
  SAMPLE_RATE,
  WAV_HEADER_BYTES,
  wavHeader,
} from "./wav.ts";

/** The header of reference §1.6, written out byte by byte. */
function handWrittenHeader(n: number): Uint8Array {
  const le32 = (
    v: number,
  ) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  const le16 = (v: number) => [v & 0xff, v >>> 8];
  const text = (s: string) => [...s].map((c) => c.charCodeAt(0));
  return new Uint8Array([
    ...text("RIFF"),
    ...le32(36 + n),
    ...text("WAVE"),
    ...text("fmt "),
    ...le32(16),
    ...le16(1),
    ...le16(1),
    ...le32(16000),
    ...le32(32000),
    ...le16(2),
    ...le16(16),
    ...text("data"),
    ...le32(n),
  ]);
}

Deno.test("wavHeader() writes the 44-byte canonical header of reference §1.6", () => {
  assertEquals(WAV_HEADER_BYTES, 44);
  assertEquals(SAMPLE_RATE, 16000);
  assertEquals(BYTES_PER_SECOND, 32000);
  for (const n of [0, 2, 160000, 0xffff_ffff - 36]) {
    assertEquals(wavHeader(n), handWrittenHeader(n), `n=${n}`);
  }
});

Deno.test("wavHeader() rejects sizes a RIFF header cannot hold", () => {
  assertThrows(() => wavHeader(-1), RangeError);
  assertThrows(() => wavHeader(1.5), RangeError);
  assertThrows(() => wavHeader(0xffff_ffff - 35), RangeError);
});

Deno.test("parseWavHeader() reads back what wavHeader() writes", () => {
  const file = new Uint8Array(44 + 6);
  file.set(wavHeader(6));
  assertEquals(parseWavHeader(file), {
    sampleRate: 16000,
    channels: 1,
    bitsPerSample: 16,
    dataOffset: 44,
    dataBytes: 6,
  });
  // The header alone is enough (a range read of the first 44 bytes).
  assertEquals(parseWavHeader(wavHeader(1000)).dataBytes, 1000);
});

Deno.test("parseWavHeader() skips an odd-sized chunk between fmt and data", () => {
  const header = wavHeader(4);
  const list = new Uint8Array([
    ..."LIST".split("").map((c) => c.charCodeAt(0)),
    3,
    0,
    0,
    0,
    7,
    7,
    7,
    0, // pad byte
  ]);
  const file = new Uint8Array([
    ...header.subarray(0, 36),
    ...list,
    ...header.subarray(36),
  ]);
  const info = parseWavHeader(file);
  assertEquals(info.dataOffset, 36 + list.length + 8);
  assertEquals(info.dataBytes, 4);
});

Deno.test("parseWavHeader() rejects files this service does not write", () => {
  const mutate = (at: number, value: number[]) => {
    const h = wavHeader(10);
    h.set(value, at);
    return h;
  };
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(8), "too short"],
    [mutate(0, [0x52, 0x49, 0x46, 0x58]), "RIFF/WAVE"], // "RIFX"
    [mutate(20, [3, 0]), "not PCM"], // IEEE float
    [mutate(22, [2, 0]), "mono"], // stereo
    [mutate(24, [0x44, 0xac, 0, 0]), "mono"], // 44100 Hz
    [mutate(34, [8, 0]), "16-bit"],
    [mutate(28, [0, 0, 0, 0]), "inconsistent"],
    [wavHeader(10).subarray(0, 40), "no data chunk"],
    [mutate(12, [0x4a, 0x55, 0x4e, 0x4b]), "data chunk before fmt"], // "JUNK"
  ];
  for (const [bytes, why] of cases) {
    const error = assertThrows(() => parseWavHeader(bytes), Error);
    assertStringIncludes(error.message, why);
  }
});
