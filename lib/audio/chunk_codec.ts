/**
 * Stored chunk objects to canonical PCM and back, for all six formats of
 * reference §1.3.
 *
 * | ext          | stored bytes                                    |
 * |--------------|-------------------------------------------------|
 * | `bin`        | PCM                                             |
 * | `enc`        | encrypted frames of PCM                         |
 * | `opus`       | omi opus container                              |
 * | `opus.enc`   | encrypted frames of an omi opus container       |
 * | `batch.bin`  | PCM of every chunk of the batch, concatenated   |
 * | `batch.enc`  | one encrypted frame of PCM per chunk            |
 *
 * @module
 */
import type { ChunkExt } from "../storage/keys.ts";
import {
  decryptFrameList,
  decryptFrames,
  encryptFrame,
  encryptFrames,
} from "../crypto/encrypted_frames.ts";
import { decodeOpus, encodeOpus } from "./opus_codec.ts";
import { HttpError } from "../http_error.ts";
import { concatBytes } from "../bytes.ts";

/** A user's `data_protection_level`; only `enhanced` is encrypted. */
export type ProtectionLevel = "standard" | "enhanced";

/** Supplies the user's key; called only for encrypted formats. */
export type KeyProvider = () => Promise<CryptoKey>;

/** The step of {@linkcode decodeChunk} that failed. */
export type ChunkDecodeReason = "decrypt" | "decode";

/**
 * A stored object that cannot be turned into PCM: a bad tag, a malformed
 * frame or container, or a packet libopus rejects. The merge falls through
 * to the next extension on this error (reference §4.1 step 3).
 */
export class ChunkDecodeError extends Error {
  /** The format that was being read. */
  readonly ext: ChunkExt;
  /** Which step failed. */
  readonly reason: ChunkDecodeReason;

  /**
   * @param ext the format that was being read
   * @param reason which step failed
   * @param cause the underlying error
   */
  constructor(ext: ChunkExt, reason: ChunkDecodeReason, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`Cannot ${reason} .${ext} chunk: ${why}`, { cause });
    this.name = "ChunkDecodeError";
    this.ext = ext;
    this.reason = reason;
  }
}

/**
 * Drops a trailing odd byte so the next chunk starts on a sample
 * (reference §4.1 item 8, "Better"). Returns a view, not a copy.
 */
export function evenLength(pcm: Uint8Array): Uint8Array {
  return pcm.length % 2 === 0 ? pcm : pcm.subarray(0, pcm.length - 1);
}

async function step<T>(
  ext: ChunkExt,
  reason: ChunkDecodeReason,
  work: () => T | Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    // A full or failing worker group, or a cancelled merge, says nothing
    // about the chunk: those must fail the merge, never make it silence.
    if (signal?.aborted) throw signal.reason;
    if (error instanceof HttpError || isAbort(error)) throw error;
    throw new ChunkDecodeError(ext, reason, error);
  }
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException &&
    (error.name === "AbortError" || error.name === "TimeoutError");
}

/**
 * Turns a stored object into canonical PCM, whatever its format. Every
 * chunk's output has even length: a trailing odd byte is dropped per chunk
 * (per frame for `batch.enc`, whose frames are the batch's chunks; at the
 * end for `batch.bin`, whose chunk boundaries are not stored).
 *
 * The result may share memory with `bytes` (`bin`, `batch.bin`).
 *
 * @param ext the object's extension
 * @param bytes the object's bytes
 * @param key called once, only for `enc`, `opus.enc` and `batch.enc`; its
 *   errors (such as a missing secret) propagate unwrapped, since they are
 *   not a property of the chunk
 * @throws {ChunkDecodeError} when decryption or decoding fails
 *
 * @example
 * ```ts
 * const pcm = await decodeChunk("opus.enc", bytes, () => keys.forUser(uid));
 * ```
 */
export async function decodeChunk(
  ext: ChunkExt,
  bytes: Uint8Array,
  key: KeyProvider,
  engine: OpusEngine = inlineOpus,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  switch (ext) {
    case "bin":
    case "batch.bin":
      return evenLength(bytes);
    case "opus":
      return evenLength(
        await step(ext, "decode", () => engine.decode(bytes, signal), signal),
      );
    case "enc": {
      const k = await key();
      return evenLength(
        await step(ext, "decrypt", () => decryptFrames(k, bytes)),
      );
    }
    case "opus.enc": {
      const k = await key();
      const container = await step(
        ext,
        "decrypt",
        () => decryptFrames(k, bytes),
      );
      return evenLength(
        await step(
          ext,
          "decode",
          () => engine.decode(container, signal),
          signal,
        ),
      );
    }
    case "batch.enc": {
      const k = await key();
      const frames = await step(
        ext,
        "decrypt",
        () => decryptFrameList(k, bytes),
      );
      return concatBytes(frames.map(evenLength));
    }
  }
}

/** Options of {@linkcode encodeChunk} and {@linkcode encodeBatch}. */
export interface EncodeOptions {
  /** The user's level: `enhanced` encrypts, anything else does not. */
  protection: ProtectionLevel;
  /** The user's key; required when `protection` is `enhanced`. */
  key?: CryptoKey;
  /** Where Opus encoding runs; the calling isolate by default. */
  engine?: OpusEngine;
}

/**
 * Runs libopus: on the calling isolate ({@linkcode inlineOpus}) or in the
 * storage worker group, which offers the same two calls.
 */
export interface OpusEngine {
  /** PCM to an omi opus container. */
  encode(
    pcm: Uint8Array,
    signal?: AbortSignal,
  ): Uint8Array | Promise<Uint8Array>;
  /**
   * An omi opus container to PCM. A container that cannot be decoded
   * throws a plain error; a failure of the engine itself (a crashed or
   * overloaded worker) throws an `HttpError` so the caller does not take it
   * for a broken chunk.
   */
  decode(
    container: Uint8Array,
    signal?: AbortSignal,
  ): Uint8Array | Promise<Uint8Array>;
}

/** libopus on the calling isolate. */
export const inlineOpus: OpusEngine = {
  encode: (pcm) => encodeOpus(pcm),
  decode: (container) => decodeOpus(container),
};

function requireKey(options: EncodeOptions, what: string): CryptoKey {
  if (options.key === undefined) {
    throw new TypeError(
      `Cannot encode ${what} for an enhanced user: no encryption key was given`,
    );
  }
  return options.key;
}

/**
 * Encodes one chunk for storage: an omi opus container (`opus`), encrypted
 * as one frame for `enhanced` users (`opus.enc`). CPU-heavy (Opus).
 *
 * @param pcm canonical PCM of the chunk
 * @returns the extension to store under and the object bytes
 */
export async function encodeChunk(
  pcm: Uint8Array,
  options: EncodeOptions,
): Promise<{ ext: "opus" | "opus.enc"; bytes: Uint8Array }> {
  const container = await (options.engine ?? inlineOpus).encode(pcm);
  if (options.protection !== "enhanced") {
    return { ext: "opus", bytes: container };
  }
  const key = requireKey(options, "a chunk");
  return { ext: "opus.enc", bytes: await encryptFrame(key, container) };
}

/**
 * Encodes the chunks of one batch, in ascending timestamp order: their PCM
 * concatenated (`batch.bin`), or for `enhanced` users one encrypted frame
 * per chunk (`batch.enc`). Each chunk loses a trailing odd byte first so
 * that every chunk after it stays sample-aligned in the blob.
 *
 * @param pcms canonical PCM of each chunk, in timestamp order
 * @returns the extension to store under and the object bytes
 */
export async function encodeBatch(
  pcms: readonly Uint8Array[],
  options: EncodeOptions,
): Promise<{ ext: "batch.bin" | "batch.enc"; bytes: Uint8Array }> {
  const chunks = pcms.map(evenLength);
  if (options.protection !== "enhanced") {
    return { ext: "batch.bin", bytes: concatBytes(chunks) };
  }
  const key = requireKey(options, "a batch");
  return { ext: "batch.enc", bytes: await encryptFrames(key, chunks) };
}
