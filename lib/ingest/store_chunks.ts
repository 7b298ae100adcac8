/**
 * Stores uploaded chunks and batch blobs in the original's layout
 * (reference 1.2-1.5): a chunk as `.opus` (or `.opus.enc` for a user whose
 * protection level is `enhanced`), a batch as `.batch.bin` (or
 * `.batch.enc`). Every object records its PCM length in `pcm_bytes`
 * metadata so durations and merges need no extra read.
 *
 * A reply is sent only after the store acknowledged the write; a re-upload
 * of a timestamp replaces the earlier object, whatever its format.
 *
 * @module
 */
import {
  encodeBatch,
  encodeChunk,
  inlineOpus,
  type OpusEngine,
} from "../audio/chunk_codec.ts";
import type { KeyRing } from "../crypto/key_ring.ts";
import type { UserSettingsRepo } from "../db/user_settings.ts";
import { HttpError } from "../http_error.ts";
import {
  type BatchExt,
  batchKey,
  CHUNK_FETCH_ORDER,
  chunkKey,
} from "../storage/keys.ts";
import type { ObjectStore } from "../storage/object_store.ts";
import { PCM_BYTES_METADATA } from "../merge/pcm_length.ts";

/**
 * A batch holds at most 60 s of audio in the original (reference 1.5); one
 * more minute of slack for clock drift between first and last.
 */
export const MAX_BATCH_SPAN_SECONDS = 120;

/** What storing needs. */
export interface IngestDeps {
  store: ObjectStore;
  keys: KeyRing;
  settings: UserSettingsRepo;
  /** Where Opus encoding runs. */
  opus?: OpusEngine;
}

/** What a stored object is. */
export interface StoredObject {
  key: string;
  ext: string;
  pcm_bytes: number;
}

/**
 * Validates an uploaded PCM16 body.
 *
 * @throws {HttpError} 400 when empty or of odd length
 */
export function validatePcmBody(pcm: Uint8Array): void {
  if (pcm.length === 0) {
    throw new HttpError(
      400,
      "Audio body is empty: expected raw PCM16 LE mono 16 kHz",
    );
  }
  if (pcm.length % 2 !== 0) {
    throw new HttpError(
      400,
      `Audio body has ${pcm.length} bytes, an odd number: PCM16 needs 2 bytes per sample`,
    );
  }
}

/**
 * Stores one chunk of PCM at `ts`.
 *
 * @param deps store, keys, settings and the Opus engine
 * @param chunk the owner, conversation, timestamp and PCM
 */
export async function storeChunk(
  deps: IngestDeps,
  chunk: { uid: string; cid: string; ts: number; pcm: Uint8Array },
): Promise<StoredObject> {
  validatePcmBody(chunk.pcm);
  // The encoder may take the buffer (a transfer to a worker): measure first.
  const pcmBytes = chunk.pcm.length;
  const protection = await protectionOf(deps, chunk.uid);
  const key = protection === "enhanced"
    ? (await deps.keys.keysFor(chunk.uid)).gcm
    : undefined;
  const encoded = await encodeChunk(chunk.pcm, {
    protection,
    key,
    engine: deps.opus ?? inlineOpus,
  });
  const objectKey = chunkKey(chunk.uid, chunk.cid, chunk.ts, encoded.ext);
  const written = await deps.store.put(objectKey, encoded.bytes, {
    metadata: { [PCM_BYTES_METADATA]: String(pcmBytes) },
  });
  // Only after the new object is durable: drop the timestamp's other formats,
  // which a merge would otherwise prefer or keep as fallbacks.
  await Promise.all(
    CHUNK_FETCH_ORDER
      .filter((ext) => ext !== encoded.ext)
      .map((ext) =>
        deleteIfOlder(
          deps.store,
          chunkKey(chunk.uid, chunk.cid, chunk.ts, ext),
          written.generation,
        )
      ),
  );
  return { key: objectKey, ext: encoded.ext, pcm_bytes: pcmBytes };
}

/**
 * Stores one batch blob covering `first`..`last`.
 *
 * @param deps store, keys and settings
 * @param batch owner, conversation, range, PCM and optionally the byte
 *   length of each chunk in it (one encrypted frame per chunk for
 *   `enhanced` users; one frame for the whole batch otherwise)
 */
export async function storeBatch(
  deps: IngestDeps,
  batch: {
    uid: string;
    cid: string;
    first: number;
    last: number;
    pcm: Uint8Array;
    chunkBytes?: number[];
  },
): Promise<StoredObject> {
  validatePcmBody(batch.pcm);
  if (batch.last < batch.first) {
    throw new HttpError(
      400,
      `Batch range ${batch.first}-${batch.last} ends before it starts`,
    );
  }
  if (batch.last - batch.first > MAX_BATCH_SPAN_SECONDS) {
    throw new HttpError(
      400,
      `Batch range spans ${
        batch.last - batch.first
      } s; at most ${MAX_BATCH_SPAN_SECONDS} s are accepted`,
    );
  }
  const parts = splitChunks(batch.pcm, batch.chunkBytes);
  const protection = await protectionOf(deps, batch.uid);
  const key = protection === "enhanced"
    ? (await deps.keys.keysFor(batch.uid)).gcm
    : undefined;
  const encoded = await encodeBatch(parts, { protection, key });
  const objectKey = batchKey(
    batch.uid,
    batch.cid,
    batch.first,
    batch.last,
    encoded.ext,
  );
  await deps.store.put(objectKey, encoded.bytes, {
    metadata: { [PCM_BYTES_METADATA]: String(batch.pcm.length) },
  });
  const other: BatchExt = encoded.ext === "batch.bin"
    ? "batch.enc"
    : "batch.bin";
  await deps.store.delete(
    batchKey(batch.uid, batch.cid, batch.first, batch.last, other),
  );
  return { key: objectKey, ext: encoded.ext, pcm_bytes: batch.pcm.length };
}

/**
 * Parses `chunk_bytes=a,b,c` of a batch upload.
 *
 * @throws {HttpError} 400 unless every part is a positive even integer
 */
export function parseChunkBytes(
  text: string | undefined,
): number[] | undefined {
  if (text === undefined || text === "") return undefined;
  const sizes = text.split(",").map((part) => part.trim());
  if (
    !sizes.every((size) =>
      /^\d+$/.test(size) && Number(size) > 0 && Number(size) % 2 === 0
    )
  ) {
    throw new HttpError(
      400,
      `chunk_bytes must be a comma-separated list of positive even byte counts, got "${text}"`,
    );
  }
  return sizes.map(Number);
}

function splitChunks(
  pcm: Uint8Array,
  sizes: number[] | undefined,
): Uint8Array[] {
  if (!sizes) return [pcm];
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (total !== pcm.length) {
    throw new HttpError(
      400,
      `chunk_bytes add up to ${total} bytes but the body has ${pcm.length}`,
    );
  }
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const size of sizes) {
    parts.push(pcm.subarray(offset, offset + size));
    offset += size;
  }
  return parts;
}

/**
 * Deletes `key` only when it is older than the write whose generation is
 * `newer`. Two uploads of one timestamp in two formats (a user changing
 * protection level while a device retries) then keep the later one instead
 * of deleting each other's acknowledged object. Generations of both stores
 * grow with time (GCS: microseconds; fs: a monotonic microsecond clock).
 */
async function deleteIfOlder(
  store: ObjectStore,
  key: string,
  newer: string,
): Promise<void> {
  const existing = await store.head(key);
  if (!existing || !isOlder(existing.generation, newer)) return;
  await store.delete(key);
}

function isOlder(generation: string, than: string): boolean {
  if (!/^\d+$/.test(generation) || !/^\d+$/.test(than)) return true;
  return BigInt(generation) < BigInt(than);
}

async function protectionOf(deps: IngestDeps, uid: string) {
  const { data_protection_level } = await deps.settings.get(uid);
  if (data_protection_level === "enhanced" && !deps.keys.available) {
    throw new HttpError(
      503,
      "Cannot store audio for a user with enhanced protection: ENCRYPTION_SECRET is not configured",
    );
  }
  return data_protection_level;
}
