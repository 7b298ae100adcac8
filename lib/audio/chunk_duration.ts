/**
 * The exact PCM length of a stored chunk object, for `audio_files`
 * durations (reference §3, "Duration bug"). The original took
 * `size / 16000` for every format, which is wrong twice over: PCM16 at
 * 16 kHz is 32000 B/s, and the size of an Opus or encrypted object says
 * little about its audio.
 *
 * | ext                | PCM bytes                                        |
 * |--------------------|--------------------------------------------------|
 * | `bin`, `batch.bin` | size                                             |
 * | `opus`             | from the container header (§1.4), no decoding    |
 * | `enc`              | size − 32 × frames (4 length + 12 nonce + 16 tag)|
 * | `batch.enc`        | the sum of each frame's `L − 28`                 |
 * | `opus.enc`         | decrypt, then the container header               |
 *
 * Each result is then rounded down to even, per chunk, exactly as
 * `decodeChunk` (chunk_codec.ts) trims its output, so the length here is the
 * length a merge appends.
 *
 * @module
 */
import type { ChunkExt } from "../storage/keys.ts";
import {
  countFrames,
  decryptFrames,
  FRAME_OVERHEAD_BYTES,
  framePlaintextLengths,
} from "../crypto/encrypted_frames.ts";
import { containerPcmLength } from "./opus_container.ts";
import {
  ChunkDecodeError,
  type ChunkDecodeReason,
  type KeyProvider,
} from "./chunk_codec.ts";
import { BYTES_PER_SECOND } from "./wav.ts";

function even(n: number): number {
  return n - (n % 2);
}

function measure<T>(
  ext: ChunkExt,
  reason: ChunkDecodeReason,
  work: () => T,
): T {
  try {
    return work();
  } catch (error) {
    throw new ChunkDecodeError(ext, reason, error);
  }
}

/**
 * The PCM byte length a stored object decodes to, without decoding audio.
 * Only `opus.enc` needs the key (its header is encrypted).
 *
 * @param ext the object's extension
 * @param bytes the object's bytes
 * @param key the user's key provider; required for `opus.enc`
 * @returns PCM bytes; seconds are `bytes / 32000`
 * @throws {ChunkDecodeError} when the frames or the container are malformed
 *   or the decryption of `opus.enc` fails
 *
 * @example
 * ```ts
 * const seconds = (await pcmLengthOfObject("opus", bytes)) / BYTES_PER_SECOND;
 * ```
 */
export async function pcmLengthOfObject(
  ext: ChunkExt,
  bytes: Uint8Array,
  key?: KeyProvider,
): Promise<number> {
  switch (ext) {
    case "bin":
    case "batch.bin":
      return even(bytes.length);
    case "opus":
      return even(measure(ext, "decode", () => containerPcmLength(bytes)));
    case "enc": {
      const frames = measure(ext, "decrypt", () => countFrames(bytes));
      return even(bytes.length - FRAME_OVERHEAD_BYTES * frames);
    }
    case "batch.enc": {
      const lengths = measure(
        ext,
        "decrypt",
        () => framePlaintextLengths(bytes),
      );
      return lengths.reduce((sum, n) => sum + even(n), 0);
    }
    case "opus.enc": {
      if (key === undefined) {
        throw new TypeError(
          "Cannot measure .opus.enc chunk: its header is encrypted and no key was given",
        );
      }
      const k = await key();
      let container: Uint8Array;
      try {
        container = await decryptFrames(k, bytes);
      } catch (error) {
        throw new ChunkDecodeError(ext, "decrypt", error);
      }
      return even(measure(ext, "decode", () => containerPcmLength(container)));
    }
  }
}

/**
 * {@linkcode pcmLengthOfObject} in seconds of canonical audio.
 */
export async function durationOfObject(
  ext: ChunkExt,
  bytes: Uint8Array,
  key?: KeyProvider,
): Promise<number> {
  return (await pcmLengthOfObject(ext, bytes, key)) / BYTES_PER_SECOND;
}
