/**
 * Offline device files (reference §6.1): what a file's name says about it,
 * and how its frame stream becomes canonical PCM (16-bit LE mono 16 kHz).
 *
 * A device file is a stream of frames, each a `uint32 LE` length followed by
 * that many bytes: raw PCM, or one Opus packet.
 *
 * @module
 */
import OpusScript from "opusscript";
import { HttpError } from "../http_error.ts";
import { SAMPLE_RATE } from "../audio/wav.ts";
import { concatBytes } from "../bytes.ts";

/** Where the recording came from (reference §6.1). */
export type DeviceSource = "omi" | "limitless";

/** How a device file's frames are encoded. */
export type DeviceCodec =
  | { kind: "pcm16"; sampleRate: number }
  | { kind: "pcm8"; sampleRate: number }
  | { kind: "opus"; frameSize: number };

/** What {@linkcode parseDeviceFileName} reads from a file name. */
export interface DeviceFileInfo {
  /** The name as given. */
  name: string;
  /** Unix epoch seconds at which the recording starts; a float for ms names. */
  timestamp: number;
  /** `limitless` when the name says so, else `omi`. */
  source: DeviceSource;
  /** The codec and its parameters. */
  codec: DeviceCodec;
}

/**
 * A device file the service rejects: 400 `Invalid file format {name}`, for a
 * bad name (reference §5.5) or a file that decodes to nothing (§6.1).
 */
export class InvalidDeviceFileError extends HttpError {
  /** @param detail the reply's detail, `Invalid file format {name}[, why]` */
  constructor(detail: string) {
    super(400, detail);
    this.name = "InvalidDeviceFileError";
  }
}

/**
 * A device file that cannot be decoded (no Opus packet decodes, or a
 * sample rate out of range): the original skips such a file (§6.1).
 */
export class DeviceFileDecodeError extends Error {
  /** @param message which file and why */
  constructor(message: string) {
    super(message);
    this.name = "DeviceFileDecodeError";
  }
}

/** 2024-01-01T00:00:00Z in epoch seconds: the earliest valid timestamp (§6.1). */
export const MIN_DEVICE_TIMESTAMP = Date.UTC(2024, 0, 1) / 1000;
/** Timestamps above this are milliseconds (§6.1). */
const MILLISECOND_TIMESTAMP_ABOVE = 1e10;
/** Default PCM16 rate when the name gives none (§6.1). */
export const DEFAULT_PCM16_RATE = 16000;
/** Default PCM8 rate when the name gives none (§6.1). */
export const DEFAULT_PCM8_RATE = 8000;
/** Default Opus frame size in samples, 10 ms at 16 kHz (§6.1). */
export const DEFAULT_OPUS_FRAME_SIZE = 160;
/** A frame longer than this is corrupt framing: "suspicious frame length" (§6.1). */
export const MAX_FRAME_BYTES = 65_536;
/**
 * Lowest PCM rate decoded: the lowest the reference names (PCM8's 8 kHz).
 * It bounds the output of resampling to 16 kHz at 4 bytes per input byte,
 * so a name cannot make a small upload expand without limit.
 */
export const MIN_PCM_RATE = 8000;
/** Highest PCM rate decoded: 48 kHz, the highest rate Opus itself knows. */
export const MAX_PCM_RATE = 48000;
/** Bytes of a frame's length prefix. */
const LENGTH_BYTES = 4;
/** Mono (reference §0). */
const CHANNELS = 1;

/**
 * Reads a device file's name (reference §6.1): it must end in `.bin` and
 * contain `_`; the timestamp is the integer after the last `_` and before
 * the first `.` of the base name, in ms when over 1e10, and must lie in
 * [2024-01-01, now].
 *
 * @param name the uploaded file's name
 * @param options `now` in epoch milliseconds
 * @returns the timestamp in seconds, source and codec
 * @throws {InvalidDeviceFileError} for a name that breaks a rule above
 *
 * @example
 * ```ts
 * const info = parseDeviceFileName("audio_omi_opus_fs160_1717171717.bin", {
 *   now: Date.now(),
 * });
 * info.timestamp; // 1717171717
 * info.codec; // { kind: "opus", frameSize: 160 }
 * ```
 */
export function parseDeviceFileName(
  name: string,
  options: { now: number },
): DeviceFileInfo {
  if (!name.endsWith(".bin") || !name.includes("_")) {
    throw new InvalidDeviceFileError(`Invalid file format ${name}`);
  }
  const base = name.slice(name.lastIndexOf("/") + 1);
  const text = base.slice(base.lastIndexOf("_") + 1).split(".")[0];
  const timestamp = parseTimestamp(text);
  if (
    timestamp === undefined || timestamp < MIN_DEVICE_TIMESTAMP ||
    timestamp > options.now / 1000
  ) {
    throw new InvalidDeviceFileError(
      `Invalid file format ${name}, missing/invalid timestamp`,
    );
  }
  return {
    name,
    timestamp,
    source: name.toLowerCase().includes("limitless") ? "limitless" : "omi",
    codec: codecOf(name),
  };
}

/**
 * Decodes a device file's frame stream into canonical PCM (reference §6.1).
 *
 * - Both codecs stop at the end of the file or on a short read.
 * - PCM stops on a frame length of 0 or over {@linkcode MAX_FRAME_BYTES};
 *   Opus stops over that bound too (the reference's "Better").
 * - PCM8 is read as unsigned (128 is zero), the WAV convention: what the
 *   device writes is unconfirmed, and a signed stream would come out with
 *   its sign bit flipped, loud but audible.
 * - PCM at another rate is resampled to 16 kHz by linear interpolation:
 *   no anti-alias filter, which is fine for speech from the device rates
 *   (8 and 16 kHz) and for VAD and transcription; a rate above 16 kHz
 *   folds its content above 8 kHz back into the band.
 * - Opus packets go through one 16 kHz mono decoder. The name's frame size
 *   caps a packet's samples, as libopus's `frame_size` did in the original:
 *   a packet that decodes to more, or fails to decode, is skipped. An empty
 *   packet, which the original handed libopus as a lost packet, becomes a
 *   frame of silence.
 *
 * @param bytes the file's bytes
 * @param info what {@linkcode parseDeviceFileName} read from its name
 * @returns canonical PCM, in a buffer of its own
 * @throws {DeviceFileDecodeError} when the file has Opus packets and none
 *   decodes, or for a PCM
 *   rate outside [{@linkcode MIN_PCM_RATE}, {@linkcode MAX_PCM_RATE}]: skip
 *   the file
 * @throws {InvalidDeviceFileError} when the file decodes to nothing: 400
 */
export function decodeDeviceFile(
  bytes: Uint8Array,
  info: DeviceFileInfo,
): Uint8Array {
  const pcm = info.codec.kind === "opus"
    ? decodeOpusFrames(bytes, info.name, info.codec.frameSize)
    : decodePcmFrames(bytes, info.name, info.codec);
  if (pcm.length === 0) {
    throw new InvalidDeviceFileError(`Invalid file format ${info.name}`);
  }
  return pcm;
}

/** Like Python's `int()` on the text: optional sign, blanks around. */
function parseTimestamp(text: string): number | undefined {
  if (!/^\s*[+-]?\d+\s*$/.test(text)) return undefined;
  const value = Number(text);
  return value > MILLISECOND_TIMESTAMP_ABOVE ? value / 1000 : value;
}

function codecOf(name: string): DeviceCodec {
  if (name.includes("_pcm16_")) {
    return {
      kind: "pcm16",
      sampleRate: digitsAfter(name, /_pcm16_(\d+)_/) ?? DEFAULT_PCM16_RATE,
    };
  }
  if (name.includes("_pcm8_")) {
    return {
      kind: "pcm8",
      sampleRate: digitsAfter(name, /_pcm8_(\d+)_/) ?? DEFAULT_PCM8_RATE,
    };
  }
  return {
    kind: "opus",
    frameSize: digitsAfter(name, /_fs(\d+)/) ?? DEFAULT_OPUS_FRAME_SIZE,
  };
}

function digitsAfter(name: string, pattern: RegExp): number | undefined {
  const match = pattern.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The payloads of the frame stream, up to the end, a short read, or a
 * length the caller refuses.
 */
function* frames(
  bytes: Uint8Array,
  accept: (length: number) => boolean,
): Generator<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset + LENGTH_BYTES <= bytes.length) {
    const length = view.getUint32(offset, true);
    if (!accept(length)) return;
    const start = offset + LENGTH_BYTES;
    if (start + length > bytes.length) return;
    yield bytes.subarray(start, start + length);
    offset = start + length;
  }
}

function decodePcmFrames(
  bytes: Uint8Array,
  name: string,
  codec: Extract<DeviceCodec, { kind: "pcm16" | "pcm8" }>,
): Uint8Array {
  const rate = codec.sampleRate;
  if (!Number.isInteger(rate) || rate < MIN_PCM_RATE || rate > MAX_PCM_RATE) {
    throw new DeviceFileDecodeError(
      `Cannot decode device file "${name}": sample rate ${rate} Hz is outside ${MIN_PCM_RATE}–${MAX_PCM_RATE} Hz`,
    );
  }
  const parts = [
    ...frames(bytes, (length) => length > 0 && length <= MAX_FRAME_BYTES),
  ];
  const raw = concatBytes(parts);
  const samples = codec.kind === "pcm16" ? pcm16Samples(raw) : pcm8Samples(raw);
  return toBytes(rate === SAMPLE_RATE ? samples : resample(samples, rate));
}

/** Signed 16-bit LE samples; a trailing odd byte is not a sample. */
function pcm16Samples(raw: Uint8Array): Int16Array {
  const count = raw.length >> 1;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** Unsigned 8-bit samples (128 is zero) scaled to 16 bits. */
function pcm8Samples(raw: Uint8Array): Int16Array {
  const out = new Int16Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = (raw[i] - 128) << 8;
  return out;
}

/** Linear interpolation from `rate` to 16 kHz. */
function resample(samples: Int16Array, rate: number): Int16Array {
  const count = Math.floor(samples.length * SAMPLE_RATE / rate);
  const out = new Int16Array(count);
  const last = samples.length - 1;
  for (let i = 0; i < count; i++) {
    const position = i * rate / SAMPLE_RATE;
    const index = Math.floor(position);
    const fraction = position - index;
    const a = samples[index];
    const b = samples[Math.min(index + 1, last)];
    out[i] = Math.round(a + (b - a) * fraction);
  }
  return out;
}

// The package's typings want a Node Buffer; it reads a Uint8Array the same
// way (it copies the bytes into WASM memory).
interface OpusDecoder {
  decode(packet: Uint8Array): Uint8Array;
  delete(): void;
}

function decodeOpusFrames(
  bytes: Uint8Array,
  name: string,
  frameSize: number,
): Uint8Array {
  const maxBytes = frameSize * 2 * CHANNELS;
  const parts: Uint8Array[] = [];
  let failed = 0;
  const decoder = new OpusScript(
    SAMPLE_RATE,
    CHANNELS,
    OpusScript.Application.VOIP,
  ) as unknown as OpusDecoder;
  try {
    for (const packet of frames(bytes, (length) => length <= MAX_FRAME_BYTES)) {
      if (packet.length === 0) {
        parts.push(new Uint8Array(maxBytes));
        continue;
      }
      let pcm: Uint8Array;
      try {
        pcm = decoder.decode(packet);
      } catch {
        failed++;
        continue;
      }
      if (pcm.length > maxBytes) {
        failed++;
        continue;
      }
      // Copy: the package returns views into a shared pool.
      parts.push(pcm.slice());
    }
  } finally {
    decoder.delete();
  }
  // No packet at all is an empty file (400 upstream), not a failed one.
  if (parts.length === 0 && failed > 0) {
    throw new DeviceFileDecodeError(
      `Cannot decode device file "${name}": none of its ${failed} opus packet(s) decodes at frame size ${frameSize}`,
    );
  }
  return concatBytes(parts);
}

function toBytes(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) {
    view.setInt16(i * 2, samples[i], true);
  }
  return out;
}
