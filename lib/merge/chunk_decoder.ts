/**
 * The decoder a merge uses: on the main isolate here; the storage worker
 * group provides one with the same signature.
 *
 * @module
 */
import { decodeChunk } from "../audio/chunk_codec.ts";
import type { KeyRing } from "../crypto/key_ring.ts";
import type { ChunkDecoder } from "./merge_audio_file.ts";

/**
 * Decodes chunks on the calling isolate.
 *
 * @param keys per-user keys for the encrypted formats
 */
export function inlineChunkDecoder(keys: KeyRing): ChunkDecoder {
  return function decodeInline(ext, bytes, uid) {
    return decodeChunk(ext, bytes, async () => (await keys.keysFor(uid)).gcm);
  };
}
