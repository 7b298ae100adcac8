/**
 * The PCM length that one stored object decodes to, known before it is
 * fetched, so the merged WAV's header can be written first and the merge
 * streamed (reference 1.4 "Length without decoding" and section 3).
 *
 * Objects this service writes carry it in their `pcm_bytes` metadata, which
 * the listing returns: no extra request. Raw PCM has it in its size. The
 * original's Opus and encrypted objects need a small ranged read of their
 * first bytes: 8 for `.opus`, 24 for `.opus.enc` (read through AES-CTR, see
 * `KeyRing`), 4 per frame for `.enc` and `.batch.enc`.
 *
 * @module
 */
import { readUint32BE, readUint32LE } from "../bytes.ts";
import {
  CONTAINER_HEADER_BYTES,
  FRAME_PCM_BYTES,
} from "../audio/opus_container.ts";
import {
  FRAME_OVERHEAD_BYTES,
  LENGTH_PREFIX_BYTES,
  NONCE_BYTES,
} from "../crypto/encrypted_frames.ts";
import { type KeyRing, peekGcmPlaintext } from "../crypto/key_ring.ts";
import type { ListedChunk } from "../storage/keys.ts";
import type { GetOptions, ObjectStore } from "../storage/object_store.ts";

/** Metadata key under which this service records an object's PCM length. */
export const PCM_BYTES_METADATA = "pcm_bytes";

/** A frame's GCM overhead besides its length prefix: nonce and tag. */
const FRAME_CRYPTO_BYTES = FRAME_OVERHEAD_BYTES - LENGTH_PREFIX_BYTES;

/** What a length probe may use. */
export interface ProbeContext {
  store: ObjectStore;
  keys: KeyRing;
  uid: string;
  signal?: AbortSignal;
  /** Ranged reads go through here so the caller can add retries and permits. */
  read?: (key: string, options: GetOptions) => Promise<Uint8Array>;
}

/**
 * The PCM length recorded in the listing, or undefined when a probe is
 * needed.
 *
 * @param entry the listed object
 * @param metadata its custom metadata from the listing
 */
export function knownPcmLength(
  entry: ListedChunk,
  metadata: Record<string, string> | undefined,
): number | undefined {
  const recorded = metadata?.[PCM_BYTES_METADATA];
  if (recorded !== undefined && /^\d+$/.test(recorded)) return Number(recorded);
  if (entry.ext === "bin" || entry.ext === "batch.bin") return even(entry.size);
  return undefined;
}

/**
 * Reads just enough of an object to know its PCM length.
 *
 * @param entry the listed object
 * @param context the store, keys and reader
 */
export async function probePcmLength(
  entry: ListedChunk,
  context: ProbeContext,
): Promise<number> {
  const read = context.read ??
    ((key: string, options: GetOptions) =>
      context.store.getBytes(key, options));
  const range = async (start: number, length: number) =>
    await read(entry.key, {
      range: { start, end: start + length - 1 },
      signal: context.signal,
    });
  switch (entry.ext) {
    case "bin":
    case "batch.bin":
      return even(entry.size);
    case "opus":
      return opusLength(await range(0, CONTAINER_HEADER_BYTES), entry.size);
    case "opus.enc": {
      const head = await range(
        0,
        LENGTH_PREFIX_BYTES + NONCE_BYTES + CONTAINER_HEADER_BYTES,
      );
      const nonce = head.subarray(
        LENGTH_PREFIX_BYTES,
        LENGTH_PREFIX_BYTES + NONCE_BYTES,
      );
      const { ctr } = await context.keys.keysFor(context.uid);
      const plain = await peekGcmPlaintext(
        ctr,
        nonce,
        head.subarray(LENGTH_PREFIX_BYTES + NONCE_BYTES),
      );
      // At least one frame's nonce, tag and length prefix surround it.
      return opusLength(plain, entry.size - FRAME_OVERHEAD_BYTES);
    }
    case "enc":
    case "batch.enc": {
      // Walk the length prefixes: usually one frame per chunk.
      let total = 0;
      let offset = 0;
      while (offset < entry.size) {
        const frameLength = readUint32BE(
          await range(offset, LENGTH_PREFIX_BYTES),
          0,
        );
        const plain = Math.max(0, frameLength - FRAME_CRYPTO_BYTES);
        // `.enc` is decrypted as one PCM blob; `.batch.enc` frame by frame.
        total += entry.ext === "batch.enc" ? even(plain) : plain;
        offset += LENGTH_PREFIX_BYTES + frameLength;
      }
      return even(total);
    }
  }
}

/** Each packet record has at least its 2-byte length (reference 1.4). */
const MIN_PACKET_RECORD_BYTES = 2;

/**
 * The decoded length a container header promises. A header that claims more
 * packets than the container's size can hold is corrupt (or, for an
 * `.opus.enc` read with the wrong key, noise) and is refused, so a bad
 * object cannot inflate the planned WAV.
 */
function opusLength(header: Uint8Array, containerBytes: number): number {
  const count = readUint32LE(header, 0);
  const original = readUint32LE(header, 4);
  const room = Math.floor(
    (containerBytes - CONTAINER_HEADER_BYTES) / MIN_PACKET_RECORD_BYTES,
  );
  if (count > room) {
    throw new RangeError(
      `Cannot plan an opus container: its header claims ${count} packets but only ${room} fit in ${containerBytes} bytes`,
    );
  }
  const framed = FRAME_PCM_BYTES * count;
  return even(original > 0 && original <= framed ? original : framed);
}

function even(n: number): number {
  return n - (n % 2);
}
