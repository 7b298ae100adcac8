import {
  assert,
  assertEquals,
  assertGreater,
  assertInstanceOf,
  assertLess,
  assertThrows,
} from "@std/assert";
import OpusScript from "opusscript";
import { HttpError } from "../http_error.ts";
import {
  decodeDeviceFile,
  DeviceFileDecodeError,
  type DeviceFileInfo,
  InvalidDeviceFileError,
  MAX_FRAME_BYTES,
  parseDeviceFileName,
} from "./device_file.ts";
import { deviceFrameStream as frameStream } from "../../tests/audio_fixtures.ts";
import { concatBytes } from "../bytes.ts";

/** 2024-06-01T00:00:00Z in ms, the `now` of these tests. */
const NOW = Date.UTC(2024, 5, 1);
const TS = 1717000000;

function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts).slice();
}

function lengthPrefix(length: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, length, true);
  return out;
}

function pcm16(samples: number[]): Uint8Array {
  return new Uint8Array(Int16Array.from(samples).buffer);
}

function samplesOf(pcm: Uint8Array): number[] {
  return [...new Int16Array(pcm.slice().buffer)];
}

/** `count` deterministic bytes that are not all one value. */
function bytes(count: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => (i * 31 + seed) & 0xff);
}

function info(name: string): DeviceFileInfo {
  return parseDeviceFileName(name, { now: NOW });
}

/** A 440 Hz tone at a quarter of full scale, `frames` × `frameSize` samples. */
function tone(frames: number, frameSize: number): Int16Array {
  const out = new Int16Array(frames * frameSize);
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.round(8192 * Math.sin(2 * Math.PI * 440 * i / 16000));
  }
  return out;
}

/** Opus packets of `pcm`, one per `frameSize` samples, as a device writes. */
function opusPackets(pcm: Int16Array, frameSize: number): Uint8Array[] {
  const encoder = new OpusScript(16000, 1, OpusScript.Application.VOIP);
  try {
    const packets: Uint8Array[] = [];
    const raw = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    for (let i = 0; i + frameSize <= pcm.length; i += frameSize) {
      const frame = raw.subarray(i * 2, (i + frameSize) * 2);
      // The package's typings want a Node Buffer; it reads the bytes.
      packets.push(encoder.encode(frame as never, frameSize).slice());
    }
    return packets;
  } finally {
    encoder.delete();
  }
}

function rms(samples: ArrayLike<number>, from = 0): number {
  let sum = 0;
  for (let i = from; i < samples.length; i++) sum += samples[i] ** 2;
  return Math.sqrt(sum / (samples.length - from));
}

Deno.test("parseDeviceFileName() reads timestamp, source and opus frame size", () => {
  assertEquals(info(`audio_omi_opus_16000_1_fs320_${TS}.bin`), {
    name: `audio_omi_opus_16000_1_fs320_${TS}.bin`,
    timestamp: TS,
    source: "omi",
    codec: { kind: "opus", frameSize: 320 },
  });
  assertEquals(info(`audio_omi_opus_${TS}.bin`).codec, {
    kind: "opus",
    frameSize: 160,
  });
});

Deno.test("parseDeviceFileName() divides millisecond timestamps by 1000", () => {
  assertEquals(info(`audio_${TS}123.bin`).timestamp, 1717000000.123);
  // 1e10 itself is still seconds, and out of range (after now).
  assertThrows(() => info(`audio_10000000000.bin`), InvalidDeviceFileError);
});

Deno.test("parseDeviceFileName() takes the text after the last _ and before the first . of the base name", () => {
  assertEquals(info(`dir_9/audio_omi_${TS}.part.bin`).timestamp, TS);
  assertEquals(info(`audio_+${TS}.bin`).timestamp, TS);
});

Deno.test("parseDeviceFileName() reads PCM rates with their defaults", () => {
  assertEquals(info(`audio_omi_pcm16_${TS}.bin`).codec, {
    kind: "pcm16",
    sampleRate: 16000,
  });
  assertEquals(info(`audio_omi_pcm16_8000_1_${TS}.bin`).codec, {
    kind: "pcm16",
    sampleRate: 8000,
  });
  assertEquals(info(`audio_omi_pcm8_${TS}.bin`).codec, {
    kind: "pcm8",
    sampleRate: 8000,
  });
  assertEquals(info(`audio_omi_pcm8_16000_1_${TS}.bin`).codec, {
    kind: "pcm8",
    sampleRate: 16000,
  });
});

Deno.test("parseDeviceFileName() says limitless for any case of the word", () => {
  assertEquals(info(`LimitLess_pendant_${TS}.bin`).source, "limitless");
  assertEquals(info(`audio_limitless_pcm16_${TS}.bin`).source, "limitless");
  assertEquals(info(`audio_omi_${TS}.bin`).source, "omi");
});

Deno.test("parseDeviceFileName() accepts both ends of [2024-01-01, now]", () => {
  assertEquals(info("audio_1704067200.bin").timestamp, 1704067200);
  assertEquals(info(`audio_${NOW / 1000}.bin`).timestamp, NOW / 1000);
  assertEquals(info(`audio_${NOW}.bin`).timestamp, NOW / 1000);
});

Deno.test("parseDeviceFileName() rejects bad names with 400 Invalid file format", () => {
  const cases: [string, string][] = [
    [`audio_${TS}.wav`, ""],
    [`audio${TS}.bin`, ""],
    ["audio_abc.bin", ", missing/invalid timestamp"],
    ["audio_.bin", ", missing/invalid timestamp"],
    [`audio_${TS}x.bin`, ", missing/invalid timestamp"],
    ["audio_1704067199.bin", ", missing/invalid timestamp"],
    [`audio_${NOW / 1000 + 1}.bin`, ", missing/invalid timestamp"],
    [`audio_${NOW + 1}.bin`, ", missing/invalid timestamp"],
    ["audio_-1717000000.bin", ", missing/invalid timestamp"],
  ];
  for (const [name, why] of cases) {
    const error = assertThrows(() => info(name), InvalidDeviceFileError);
    assertInstanceOf(error, HttpError);
    assertEquals(error.status, 400);
    assertEquals(error.message, `Invalid file format ${name}${why}`);
  }
});

Deno.test("decodeDeviceFile() joins the PCM16 frames of a 16 kHz file", () => {
  const a = pcm16([1, -2, 300]);
  const b = pcm16([-32768, 32767]);
  const pcm = decodeDeviceFile(
    frameStream([a, b]),
    info(`audio_omi_pcm16_16000_1_${TS}.bin`),
  );
  assertEquals(pcm, concat(a, b));
  assertEquals(pcm.byteOffset, 0);
  assertEquals(pcm.buffer.byteLength, pcm.length);
});

Deno.test("decodeDeviceFile() stops PCM on length 0, a suspicious length, a short read or a cut prefix", () => {
  const name = `audio_omi_pcm16_${TS}.bin`;
  const good = bytes(64, 1);
  const later = frameStream([bytes(64, 2)]);
  const streams = [
    concat(frameStream([good]), lengthPrefix(0), later),
    concat(
      frameStream([good]),
      lengthPrefix(MAX_FRAME_BYTES + 1),
      bytes(MAX_FRAME_BYTES + 1, 3),
      later,
    ),
    concat(frameStream([good]), lengthPrefix(100), bytes(50, 4)),
    concat(frameStream([good]), lengthPrefix(100).subarray(0, 2)),
  ];
  for (const stream of streams) {
    assertEquals(decodeDeviceFile(stream, info(name)), good);
  }
  // The bound itself is a valid length.
  const largest = bytes(MAX_FRAME_BYTES, 5);
  assertEquals(
    decodeDeviceFile(frameStream([largest, good]), info(name)),
    concat(largest, good),
  );
});

Deno.test("decodeDeviceFile() drops a trailing odd PCM16 byte", () => {
  const pcm = decodeDeviceFile(
    frameStream([pcm16([5, 6]), new Uint8Array([7])]),
    info(`audio_omi_pcm16_${TS}.bin`),
  );
  assertEquals(samplesOf(pcm), [5, 6]);
});

Deno.test("decodeDeviceFile() resamples 8 kHz PCM16 to 16 kHz by linear interpolation", () => {
  const pcm = decodeDeviceFile(
    frameStream([pcm16([0, 1000, 2000, -2000])]),
    info(`audio_omi_pcm16_8000_1_${TS}.bin`),
  );
  assertEquals(samplesOf(pcm), [0, 500, 1000, 1500, 2000, 0, -2000, -2000]);
});

Deno.test("decodeDeviceFile() reads PCM8 as unsigned, 128 being zero", () => {
  const pcm = decodeDeviceFile(
    frameStream([new Uint8Array([128, 255, 0, 129])]),
    info(`audio_omi_pcm8_16000_1_${TS}.bin`),
  );
  assertEquals(samplesOf(pcm), [0, 32512, -32768, 256]);
  const upsampled = decodeDeviceFile(
    frameStream([new Uint8Array([128, 192])]),
    info(`audio_omi_pcm8_${TS}.bin`),
  );
  assertEquals(samplesOf(upsampled), [0, 8192, 16384, 16384]);
});

Deno.test("decodeDeviceFile() refuses PCM rates outside 8-48 kHz as undecodable", () => {
  for (const rate of [4000, 96000]) {
    assertThrows(
      () =>
        decodeDeviceFile(
          frameStream([bytes(64, 1)]),
          info(`audio_omi_pcm16_${rate}_1_${TS}.bin`),
        ),
      DeviceFileDecodeError,
      `sample rate ${rate} Hz`,
    );
  }
});

Deno.test("decodeDeviceFile() rejects a file that decodes to nothing with 400", () => {
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(0), `audio_omi_pcm16_${TS}.bin`],
    [lengthPrefix(0), `audio_omi_pcm8_${TS}.bin`],
    [concat(lengthPrefix(10), bytes(3, 1)), `audio_omi_fs160_${TS}.bin`],
  ];
  for (const [stream, name] of cases) {
    const error = assertThrows(
      () => decodeDeviceFile(stream, info(name)),
      InvalidDeviceFileError,
    );
    assertEquals(error.status, 400);
    assertEquals(error.message, `Invalid file format ${name}`);
  }
});

Deno.test("decodeDeviceFile() decodes 10 ms Opus packets into 16 kHz PCM", () => {
  const original = tone(50, 160);
  const pcm = decodeDeviceFile(
    frameStream(opusPackets(original, 160)),
    info(`audio_omi_opus_16000_1_fs160_${TS}.bin`),
  );
  assertEquals(pcm.length, 50 * 160 * 2);
  // Lossy, so compare loudness after the codec's start-up, not samples.
  const decoded = samplesOf(pcm);
  const ratio = rms(decoded, 1600) / rms(original, 1600);
  assertGreater(ratio, 0.7);
  assertLess(ratio, 1.3);
});

Deno.test("decodeDeviceFile() skips Opus packets that fail or exceed the frame size", () => {
  const packets = opusPackets(tone(10, 160), 160);
  const twentyMs = opusPackets(tone(2, 320), 320);
  const corrupt = new Uint8Array([0x03]);
  const pcm = decodeDeviceFile(
    frameStream([
      packets[0],
      corrupt,
      ...packets.slice(1, 5),
      twentyMs[0],
      ...packets.slice(5),
    ]),
    info(`audio_omi_fs160_${TS}.bin`),
  );
  assertEquals(pcm.length, 10 * 160 * 2);
  // The same 20 ms packets decode under a name that allows them.
  assertEquals(
    decodeDeviceFile(frameStream(twentyMs), info(`audio_omi_fs320_${TS}.bin`))
      .length,
    2 * 320 * 2,
  );
});

Deno.test("decodeDeviceFile() fails an Opus file none of whose packets decodes", () => {
  assertThrows(
    () =>
      decodeDeviceFile(
        frameStream([new Uint8Array([0x03]), new Uint8Array([0xff])]),
        info(`audio_omi_fs160_${TS}.bin`),
      ),
    DeviceFileDecodeError,
    "none of its 2 opus packet(s) decodes",
  );
});

Deno.test("decodeDeviceFile() stops Opus at a frame length over 65,536", () => {
  const packets = opusPackets(tone(4, 160), 160);
  const stream = concat(
    frameStream(packets.slice(0, 2)),
    lengthPrefix(MAX_FRAME_BYTES + 1),
    bytes(MAX_FRAME_BYTES + 1, 7),
    frameStream(packets.slice(2)),
  );
  const pcm = decodeDeviceFile(stream, info(`audio_omi_fs160_${TS}.bin`));
  assertEquals(pcm.length, 2 * 160 * 2);
});

Deno.test("decodeDeviceFile() turns an empty Opus packet into a frame of silence", () => {
  const packets = opusPackets(tone(2, 160), 160);
  const pcm = decodeDeviceFile(
    frameStream([packets[0], new Uint8Array(0), packets[1]]),
    info(`audio_omi_fs160_${TS}.bin`),
  );
  assertEquals(pcm.length, 3 * 160 * 2);
  assert(pcm.subarray(320, 640).every((byte) => byte === 0));
});
