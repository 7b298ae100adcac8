import {
  assert,
  assertEquals,
  assertGreater,
  assertLess,
  assertThrows,
} from "@std/assert";
import OpusScript from "opusscript";
import { decodeOpus, encodeOpus, OpusCodecError } from "./opus_codec.ts";
import { OpusContainerError, writeContainer } from "./opus_container.ts";

const RATE = 16000;

/**
 * A speech-like test signal: a gliding fundamental with harmonics, syllable
 * amplitude modulation and a little deterministic noise.
 */
function speechLike(seconds: number): Uint8Array {
  const n = Math.round(seconds * RATE);
  const samples = new Int16Array(n);
  let seed = 12345;
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / RATE;
    const f0 = 140 + 40 * Math.sin(2 * Math.PI * 0.7 * t);
    phase += 2 * Math.PI * f0 / RATE;
    let v = 0;
    for (let h = 1; h <= 8; h++) v += Math.sin(h * phase) / h;
    const envelope = 0.55 + 0.45 * Math.sin(2 * Math.PI * 3 * t);
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const noise = (seed / 0x7fffffff - 0.5) * 0.05;
    samples[i] = Math.round(7000 * envelope * v + 7000 * noise);
  }
  return new Uint8Array(samples.buffer);
}

function toSamples(pcm: Uint8Array): Int16Array {
  const copy = pcm.slice(0, pcm.length - (pcm.length % 2));
  return new Int16Array(copy.buffer);
}

/**
 * Waveform SNR in dB of `decoded` against `original` at the codec delay
 * (searched over 0..200 samples) that fits best; the first and last 40 ms
 * are left out. Returns the SNR and that delay.
 */
function waveformSnr(
  original: Int16Array,
  decoded: Int16Array,
): { snr: number; lag: number } {
  const edge = 640;
  let best = { snr: -Infinity, lag: 0 };
  for (let lag = 0; lag <= 200; lag++) {
    let signal = 0;
    let noise = 0;
    for (let i = edge; i < original.length - edge - lag; i++) {
      signal += original[i] ** 2;
      noise += (original[i] - decoded[i + lag]) ** 2;
    }
    const snr = 10 * Math.log10(signal / noise);
    if (snr > best.snr) best = { snr, lag };
  }
  return best;
}

/**
 * SNR in dB of the 20 ms RMS envelope: what a listener hears as loudness
 * over time, insensitive to the phase changes a speech codec makes.
 */
function envelopeSnr(
  original: Int16Array,
  decoded: Int16Array,
  lag: number,
): number {
  const rms = (a: Int16Array) => {
    const out: number[] = [];
    for (let f = 0; f + 320 <= a.length; f += 320) {
      let sum = 0;
      for (let i = f; i < f + 320; i++) sum += a[i] ** 2;
      out.push(Math.sqrt(sum / 320));
    }
    return out;
  };
  const a = rms(original);
  const b = rms(decoded.subarray(lag));
  let signal = 0;
  let noise = 0;
  for (let i = 2; i < Math.min(a.length, b.length) - 2; i++) {
    signal += a[i] ** 2;
    noise += (a[i] - b[i]) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

function tone(seconds: number, hz: number): Uint8Array {
  const samples = new Int16Array(Math.round(seconds * RATE));
  for (let i = 0; i < samples.length; i++) {
    samples[i] = Math.round(8000 * Math.sin(2 * Math.PI * hz * i / RATE));
  }
  return new Uint8Array(samples.buffer);
}

/** Reads the container by hand, independently of opus_container.ts. */
function layout(
  bytes: Uint8Array,
): { count: number; pcmLen: number; sizes: number[] } {
  const count = bytes[0] | bytes[1] << 8 | bytes[2] << 16 | bytes[3] << 24;
  const pcmLen = bytes[4] | bytes[5] << 8 | bytes[6] << 16 | bytes[7] << 24;
  const sizes: number[] = [];
  let at = 8;
  for (let i = 0; i < count; i++) {
    const size = bytes[at] | bytes[at + 1] << 8;
    sizes.push(size);
    at += 2 + size;
  }
  assertEquals(at, bytes.length, "packets must fill the container exactly");
  return { count, pcmLen, sizes };
}

Deno.test("encodeOpus() of empty PCM is the 8-byte header 0,0 and decodes to nothing", () => {
  const container = encodeOpus(new Uint8Array(0));
  assertEquals(container, new Uint8Array(8));
  assertEquals(decodeOpus(container).length, 0);
});

Deno.test("encodeOpus() writes one packet per 20 ms frame and the original length", () => {
  const pcm = speechLike(5);
  assertEquals(pcm.length, 160000);
  const container = encodeOpus(pcm);
  const { count, pcmLen, sizes } = layout(container);
  assertEquals(count, 250);
  assertEquals(pcmLen, 160000);
  assert(sizes.every((s) => s > 0 && s < 640), "every packet holds data");
  assertEquals(decodeOpus(container).length, 160000);
});

Deno.test("encodeOpus() pads a short last frame and decodeOpus() truncates to the original length", () => {
  const pcm = speechLike(0.05).subarray(0, 1001); // 1.56 frames, odd length
  const container = encodeOpus(pcm);
  const { count, pcmLen } = layout(container);
  assertEquals(count, 2);
  assertEquals(pcmLen, 1001);
  assertEquals(decodeOpus(container).length, 1001);
});

// Measured with opusscript 0.1.1 (libopus 1.4) at default bitrate: tone
// 33 dB, speech-like waveform 7 dB (SILK does not keep phase), envelope
// 30 dB. Unrelated signals score about 0 dB, so these bounds catch a codec
// that is fed or read the wrong way (byte order, sample width, frame size).
Deno.test("decodeOpus() keeps a 440 Hz tone above 20 dB waveform SNR", () => {
  const pcm = tone(1, 440);
  const decoded = decodeOpus(encodeOpus(pcm));
  assertEquals(decoded.length, pcm.length);
  const { snr } = waveformSnr(toSamples(pcm), toSamples(decoded));
  assertGreater(snr, 20, `SNR ${snr.toFixed(1)} dB`);
});

Deno.test("decodeOpus() keeps a speech-like signal: waveform SNR above 4 dB, envelope above 20 dB", () => {
  const pcm = speechLike(1);
  const decoded = decodeOpus(encodeOpus(pcm));
  assertEquals(decoded.length, pcm.length);
  const original = toSamples(pcm);
  const { snr, lag } = waveformSnr(original, toSamples(decoded));
  assertGreater(snr, 4, `waveform SNR ${snr.toFixed(1)} dB`);
  const envelope = envelopeSnr(original, toSamples(decoded), lag);
  assertGreater(envelope, 20, `envelope SNR ${envelope.toFixed(1)} dB`);
});

Deno.test("encodeOpus() compresses silence more than 5x", () => {
  const pcm = new Uint8Array(2 * RATE * 2);
  const container = encodeOpus(pcm);
  assertLess(container.length * 5, pcm.length);
  const decoded = decodeOpus(container);
  assertEquals(decoded.length, pcm.length);
  assert(toSamples(decoded).every((s) => Math.abs(s) < 16), "near silence");
});

Deno.test("decodeOpus() decodes a container reassembled by hand from the same packets", () => {
  const pcm = speechLike(0.2);
  const container = encodeOpus(pcm);
  const { sizes } = layout(container);
  // Re-lay the packets with original_pcm_len 0: nothing is truncated, so
  // the output is 640 bytes per packet.
  const parts: number[] = [sizes.length, 0, 0, 0, 0, 0, 0, 0];
  let at = 8;
  for (const size of sizes) {
    parts.push(...container.subarray(at, at + 2 + size));
    at += 2 + size;
  }
  const rebuilt = new Uint8Array(parts);
  const decoded = decodeOpus(rebuilt);
  assertEquals(decoded.length, 640 * sizes.length);
  assertEquals(decoded.subarray(0, pcm.length), decodeOpus(container));
});

Deno.test("decodeOpus() keeps the decoded length when original_pcm_len exceeds it", () => {
  const container = encodeOpus(new Uint8Array(1280));
  new DataView(container.buffer).setUint32(4, 99999, true);
  assertEquals(decodeOpus(container).length, 1280);
});

Deno.test("decodeOpus() reads an empty packet as 20 ms of silence", () => {
  const decoded = decodeOpus(writeContainer([new Uint8Array(0)], 0));
  assertEquals(decoded, new Uint8Array(640));
});

Deno.test("decodeOpus() fails on malformed containers and invalid packets", () => {
  assertThrows(
    () => decodeOpus(new Uint8Array(4)),
    OpusContainerError,
    "too short",
  );
  const container = encodeOpus(new Uint8Array(1280));
  assertThrows(
    () => decodeOpus(container.subarray(0, container.length - 1)),
    OpusContainerError,
    "truncated",
  );
  assertThrows(
    () => decodeOpus(writeContainer([new Uint8Array([0xff, 0xff, 0xff])], 0)),
    OpusCodecError,
    "Cannot decode opus packet 0 of 1",
  );
});

Deno.test("encodeOpus() and decodeOpus() free their WASM codec on success and on error", () => {
  // Emscripten never frees C++ objects by itself, and the heap grows
  // silently, so count the delete() calls instead of waiting for a crash.
  const proto = OpusScript.prototype as unknown as { delete(): void };
  const original = proto.delete;
  let deletes = 0;
  proto.delete = function (this: unknown) {
    deletes++;
    return original.call(this);
  };
  try {
    const container = encodeOpus(new Uint8Array(1280));
    assertEquals(deletes, 1);
    decodeOpus(container);
    assertEquals(deletes, 2);
    assertThrows(() =>
      decodeOpus(writeContainer([new Uint8Array([0xff, 0xff, 0xff])], 0))
    );
    assertEquals(deletes, 3);
    // Nothing to decode or encode: no codec is created, none to free.
    encodeOpus(new Uint8Array(0));
    decodeOpus(writeContainer([], 0));
    assertEquals(deletes, 3);
  } finally {
    proto.delete = original;
  }
});
