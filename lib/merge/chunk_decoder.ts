/**
 * The decoder a merge uses. Decryption is native WebCrypto and stays on the
 * calling isolate; Opus decoding is CPU work and runs in the `engine` (the
 * storage worker group in the service).
 *
 * @module
 */
import {
  decodeChunk,
  inlineOpus,
  type OpusEngine,
} from "../audio/chunk_codec.ts";
import type { KeyRing } from "../crypto/key_ring.ts";
import type { ChunkDecoder } from "./merge_audio_file.ts";

/**
 * Decodes chunks: decryption on the calling isolate, Opus wherever `engine`
 * runs it.
 *
 * @param keys per-user keys for the encrypted formats
 * @param engine where libopus runs; the calling isolate by default
 */
export function chunkDecoder(
  keys: KeyRing,
  engine: OpusEngine = inlineOpus,
): ChunkDecoder {
  return function decode(ext, bytes, uid, signal) {
    return decodeChunk(
      ext,
      bytes,
      async () => (await keys.keysFor(uid)).gcm,
      engine,
      signal,
    );
  };
}
