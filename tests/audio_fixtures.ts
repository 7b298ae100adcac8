/**
 * Builds audio and buckets the way the original backend wrote them, for
 * tests. Objects are laid out with the format modules' writers but carry no
 * `pcm_bytes` metadata, as the original's objects do not.
 *
 * @module
 */
import { encodeOpus } from "../lib/audio/opus_codec.ts";
import { wavHeader } from "../lib/audio/wav.ts";
import { deriveUserKey } from "../lib/crypto/user_key.ts";
import { encryptFrame } from "../lib/crypto/encrypted_frames.ts";
import { batchKey, type ChunkExt, chunkKey } from "../lib/storage/keys.ts";
import type { ObjectStore } from "../lib/storage/object_store.ts";
import { TEST_ENCRYPTION_SECRET } from "./test_utils.ts";

/** Deterministic pseudo-random PCM16 bytes (xorshift32), `bytes` long. */
export function noisePcm(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A speech-like PCM16 signal: a few harmonics under a slow envelope. */
export function tonePcm(seconds: number, freq = 220): Uint8Array {
  const samples = Math.round(seconds * 16000);
  const out = new Uint8Array(samples * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples; i++) {
    const t = i / 16000;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
    const v = env * (Math.sin(2 * Math.PI * freq * t) +
      0.5 * Math.sin(2 * Math.PI * 2 * freq * t));
    view.setInt16(i * 2, Math.round(v * 8000), true);
  }
  return out;
}

/** The bytes of one object in `ext` holding `pcm`, as the original wrote it. */
export async function originalObject(
  ext: ChunkExt,
  pcm: Uint8Array,
  uid: string,
  options: { framesOf?: number[] } = {},
): Promise<Uint8Array> {
  const key = ext.endsWith("enc")
    ? await deriveUserKey(TEST_ENCRYPTION_SECRET, uid)
    : undefined;
  switch (ext) {
    case "bin":
    case "batch.bin":
      return pcm;
    case "opus":
      return encodeOpus(pcm);
    case "enc":
      return await encryptFrame(key!, pcm);
    case "opus.enc":
      return await encryptFrame(key!, encodeOpus(pcm));
    case "batch.enc": {
      // One frame per chunk: split at the given chunk byte lengths.
      const sizes = options.framesOf ?? [pcm.length];
      const frames: Uint8Array[] = [];
      let at = 0;
      for (const size of sizes) {
        frames.push(await encryptFrame(key!, pcm.subarray(at, at + size)));
        at += size;
      }
      const total = frames.reduce((n, f) => n + f.length, 0);
      const out = new Uint8Array(total);
      let offset = 0;
      for (const frame of frames) {
        out.set(frame, offset);
        offset += frame.length;
      }
      return out;
    }
  }
}

/** Writes one chunk object in the original's layout. */
export async function putOriginalChunk(
  store: ObjectStore,
  where: { uid: string; cid: string; ts: number; ext: ChunkExt },
  pcm: Uint8Array,
): Promise<string> {
  const key = chunkKey(where.uid, where.cid, where.ts, where.ext as never);
  await store.put(key, await originalObject(where.ext, pcm, where.uid));
  return key;
}

/** Writes one batch blob in the original's layout. */
export async function putOriginalBatch(
  store: ObjectStore,
  where: {
    uid: string;
    cid: string;
    first: number;
    last: number;
    ext: "batch.bin" | "batch.enc";
  },
  chunks: Uint8Array[],
): Promise<string> {
  const key = batchKey(
    where.uid,
    where.cid,
    where.first,
    where.last,
    where.ext,
  );
  const pcm = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    pcm.set(chunk, at);
    at += chunk.length;
  }
  await store.put(
    key,
    await originalObject(where.ext, pcm, where.uid, {
      framesOf: chunks.map((c) => c.length),
    }),
  );
  return key;
}

/**
 * The original's assembly (reference 4.1 step 6), written out plainly:
 * sorted timestamps, silence for positive gaps, overlaps not trimmed.
 */
export function referenceAssembly(
  requested: number[],
  pcmAt: Map<number, Uint8Array>,
): Uint8Array {
  const sorted = [...requested].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let cursor = sorted[0];
  for (const t of sorted) {
    const pcm = pcmAt.get(t);
    if (!pcm) continue;
    const gap = t - cursor;
    if (gap > 0) parts.push(new Uint8Array(Math.trunc(gap * 16000) * 2));
    parts.push(pcm);
    cursor = t + pcm.length / 32000;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A canonical WAV file around `pcm`. */
export function wavOf(pcm: Uint8Array): Uint8Array {
  const out = new Uint8Array(44 + pcm.length);
  out.set(wavHeader(pcm.length));
  out.set(pcm, 44);
  return out;
}

/** A device file's frame stream: each payload behind its `uint32 LE` length. */
export function deviceFrameStream(payloads: Uint8Array[]): Uint8Array {
  const total = payloads.reduce((sum, p) => sum + 4 + p.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const payload of payloads) {
    view.setUint32(offset, payload.length, true);
    out.set(payload, offset + 4);
    offset += 4 + payload.length;
  }
  return out;
}
