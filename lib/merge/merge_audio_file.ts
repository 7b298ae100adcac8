/**
 * Merges one audio file's chunks into the merged WAV cache object
 * (DESIGN.md section 3; reference section 4.1).
 *
 * One listing resolves every timestamp to the objects that serve it; the
 * WAV size is planned before the first fetch so the header can lead a
 * streamed write; chunks are fetched and decoded through a sliding window of
 * {@linkcode MERGE_WINDOW} built on `pooledMap`, each fetch holding a
 * `storage.chunk` permit; the PCM is assembled in timestamp order with the
 * original's gap filling and streamed into the store. Memory is bounded by
 * the window, not by the conversation's length.
 *
 * Failure semantics: a missing object or one that cannot be decrypted or
 * decoded is absent (the next listed format is tried first, and the key is
 * logged); a transient storage error is retried with backoff and, if it
 * persists, fails the merge with 503 and nothing is cached. When a chunk
 * turns out to decode to another length than planned (a corrupt object),
 * the pass writes nothing and the merge runs once more with the lengths it
 * learned, so the cached bytes are always the original's.
 *
 * @module
 */
import { retry, RetryError } from "@std/async";
import type { LogSink } from "../access_log.ts";
import { wavHeader } from "../audio/wav.ts";
import { ChunkDecodeError } from "../audio/chunk_codec.ts";
import type { Clock } from "../clock.ts";
import type { LimiterRegistry, Priority } from "../concurrency/mod.ts";
import { slidingWindow } from "../concurrency/sliding_window.ts";
import {
  EncryptionUnavailableError,
  type KeyRing,
} from "../crypto/key_ring.ts";
import { HttpError, OverloadedError } from "../http_error.ts";
import {
  type ChunkExt,
  chunkPrefix,
  mergedKey,
  parseListing,
} from "../storage/keys.ts";
import {
  isTransient,
  NotFoundError,
  type ObjectInfo,
  type ObjectStore,
} from "../storage/object_store.ts";
import { GapFiller } from "./gap_fill.ts";
import { type FetchJob, type MergePlan, planMerge } from "./merge_plan.ts";
import {
  knownPcmLength,
  PCM_BYTES_METADATA,
  probePcmLength,
} from "./pcm_length.ts";

/** Chunks in flight per merge: the window of PR #7388 (reference 4.1 step 4). */
export const MERGE_WINDOW = 8;
/** The merged cache is valid for 3 days (reference 1.6). */
export const MERGED_CACHE_TTL_MS = 3 * 24 * 3600 * 1000;
/** Attempts of one storage read before a transient error fails the merge. */
const STORAGE_ATTEMPTS = 4;
/** First and longest backoff between attempts. */
const STORAGE_BACKOFF_MIN_MS = 50;
const STORAGE_BACKOFF_MAX_MS = 1_000;
/** A RIFF size field is 32 bits and counts 36 header bytes besides the data. */
const MAX_WAV_DATA_BYTES = 0xffff_ffff - 36;
/** Zero bytes are written in blocks of this size. */
const SILENCE_BLOCK_BYTES = 64 * 1024;
const SILENCE = new Uint8Array(SILENCE_BLOCK_BYTES);

/** Turns one stored object into canonical PCM (in a worker, or inline). */
export type ChunkDecoder = (
  ext: ChunkExt,
  bytes: Uint8Array,
  uid: string,
  signal?: AbortSignal,
) => Promise<Uint8Array>;

/** What a merge needs. */
export interface MergeDeps {
  store: ObjectStore;
  keys: KeyRing;
  limiters: LimiterRegistry;
  decode: ChunkDecoder;
  clock: Clock;
  log: LogSink;
}

/** One merge to run. */
export interface MergeRequest {
  uid: string;
  cid: string;
  fid: string;
  /** The audio file's chunk timestamps. */
  timestamps: readonly number[];
  /**
   * Interactive merges go ahead of precache in every limiter queue. A
   * function is asked at every permit request, so a precache merge that a
   * user starts waiting on moves up for the fetches it has yet to queue.
   */
  priority: Priority | (() => Priority);
  signal?: AbortSignal;
}

/** What a finished merge wrote. */
export interface MergeResult {
  info: ObjectInfo;
  /** Bytes of PCM after the 44-byte header. */
  pcmBytes: number;
  /** Fetch jobs that produced audio, and that were absent. */
  present: number;
  absent: number;
}

/** 404: none of the requested chunks exists or decodes (reference 4.1 step 9). */
export class NoChunksError extends HttpError {
  constructor() {
    super(404, "Audio chunks not found in storage");
    this.name = "NoChunksError";
  }
}

/**
 * Merges the file and writes `merged/{uid}/{cid}/{fid}.wav`.
 *
 * @param deps store, keys, limiters, decoder, clock, log
 * @param request which file, at what priority
 * @throws {NoChunksError} when no requested chunk yields audio
 * @throws {OverloadedError} 503 when storage keeps failing or a queue is full
 */
export async function mergeAudioFile(
  deps: MergeDeps,
  request: MergeRequest,
): Promise<MergeResult> {
  const { store } = deps;
  const { uid, cid, signal } = request;
  const listed = await withRetry(
    () => store.list(chunkPrefix(uid, cid), { signal }),
    signal,
  );
  const metadata = new Map(listed.map((info) => [info.key, info.metadata]));
  const plan = planMerge(parseListing(listed), request.timestamps);
  if (plan.jobs.length === 0) throw new NoChunksError();

  const lengths = await planLengths(deps, request, plan, metadata);
  try {
    return await writeMerge(deps, request, plan, lengths, "strict");
  } catch (error) {
    if (!(error instanceof PlanMismatch)) throw error;
    // A chunk decoded to another length than planned (corrupt, or absent
    // after all). Merge once more with what was learned, so the output is
    // exactly what the original would produce; if that still differs,
    // keep the header's promise by padding or cutting, and log it.
    deps.log({
      level: "warn",
      msg:
        "merged length differs from plan; merging again with the lengths learned",
      uid: request.uid,
      conversation_id: request.cid,
      audio_file_id: request.fid,
    });
    return await writeMerge(deps, request, plan, error.actual, "pad");
  }
}

/** Thrown at the end of a strict pass whose decoded lengths missed the plan. */
class PlanMismatch extends Error {
  readonly actual: (number | null)[];

  constructor(actual: (number | null)[]) {
    super("Merged audio does not match its planned length");
    this.actual = actual;
  }
}

/**
 * Streams one pass of the merge into the cache object. `"strict"` fails
 * with {@linkcode PlanMismatch} (and writes nothing) when the decoded
 * lengths differ from the plan; `"pad"` pads or cuts to the planned size.
 */
async function writeMerge(
  deps: MergeDeps,
  request: MergeRequest,
  plan: MergePlan,
  lengths: (number | null)[],
  mode: "strict" | "pad",
): Promise<MergeResult> {
  const { uid, cid, fid, signal } = request;
  const planned = plannedTotal(plan, lengths);
  if (planned === null) throw new NoChunksError();
  if (planned > MAX_WAV_DATA_BYTES) {
    throw new HttpError(
      500,
      `Failed to download audio file: ${planned} bytes of audio exceed what one WAV can hold`,
    );
  }
  const total: number = planned;

  const counts = { present: 0, absent: 0, deviated: false };
  const results = slidingWindow(
    plan.jobs,
    (job, _index, jobSignal) =>
      // The window's signal also aborts when the merge's own does.
      fetchJob(deps, request, job, jobSignal),
    { window: MERGE_WINDOW, signal },
  );
  // The store may wrap a failure of the body; keep the body's own error so
  // the caller sees why (404 no chunks, 503 storage) rather than the wrapper.
  let bodyError: { error: unknown } | undefined;
  async function* guarded(): AsyncGenerator<Uint8Array> {
    try {
      yield* wavBody(plan, results, {
        total,
        planned: lengths,
        mode,
        counts,
      });
    } catch (error) {
      bodyError = { error };
      throw error;
    }
  }
  const now = deps.clock.now();
  let info: ObjectInfo;
  try {
    info = await deps.store.put(
      mergedKey(uid, cid, fid),
      ReadableStream.from(guarded()),
      {
        contentType: "audio/wav",
        metadata: {
          expires_at: pythonIsoUtc(now + MERGED_CACHE_TTL_MS),
          audio_file_id: fid,
          [PCM_BYTES_METADATA]: String(total),
        },
        // A merge can always be redone; skipping the flush to disk is what
        // keeps a merge near the speed of its reads.
        durability: "cache",
        signal,
      },
    );
  } catch (error) {
    throw bodyError ? bodyError.error : error;
  }
  if (counts.deviated) {
    deps.log({
      level: "warn",
      msg: "merged length differs from plan; padded or cut to the planned size",
      uid,
      conversation_id: cid,
      audio_file_id: fid,
    });
  }
  return {
    info,
    pcmBytes: total,
    present: counts.present,
    absent: counts.absent,
  };
}

/** PCM length of each job's first candidate: null when it cannot be read. */
async function planLengths(
  deps: MergeDeps,
  request: MergeRequest,
  plan: MergePlan,
  metadata: Map<string, Record<string, string>>,
): Promise<(number | null)[]> {
  const lengths: (number | null)[] = plan.jobs.map((job) => {
    const first = job.candidates[0];
    return knownPcmLength(first, metadata.get(first.key)) ?? null;
  });
  const unknown = plan.jobs
    .map((job, index) => ({ job, index }))
    .filter(({ index }) => lengths[index] === null);
  if (unknown.length === 0) return lengths;
  const probes = slidingWindow(
    unknown,
    async ({ job }, _i, jobSignal) => {
      const signal = jobSignal;
      using _permit = await deps.limiters.get("storage.chunk").acquire({
        signal,
        priority: priorityOf(request),
      });
      for (const candidate of job.candidates) {
        try {
          return await probePcmLength(candidate, {
            store: deps.store,
            keys: deps.keys,
            uid: request.uid,
            signal,
            read: (key, options) =>
              withRetry(() => deps.store.getBytes(key, options), signal),
          });
        } catch (error) {
          if (error instanceof OverloadedError) throw error;
          if (error instanceof EncryptionUnavailableError) {
            throw encryptionUnavailable(error);
          }
          // A missing or unreadable header: the decode will fail as well.
          deps.log({
            level: "warn",
            msg: "cannot read chunk length",
            key: candidate.key,
            error: String(error),
          });
        }
      }
      return null;
    },
    { window: MERGE_WINDOW, signal: request.signal },
  );
  let i = 0;
  for await (const length of probes) lengths[unknown[i++].index] = length;
  return lengths;
}

function plannedTotal(
  plan: MergePlan,
  lengths: readonly (number | null)[],
): number | null {
  const first = plan.slots[0]?.timestamp;
  if (first === undefined) return null;
  const filler = new GapFiller(first);
  let total = 0;
  let any = false;
  for (const slot of plan.slots) {
    const length = slot.job < 0 ? null : lengths[slot.job];
    if (length === null) continue;
    any = true;
    total += filler.advance(slot.timestamp, length) + length;
  }
  return any ? total : null;
}

/** Fetches and decodes one job: its PCM, or null when absent. */
async function fetchJob(
  deps: MergeDeps,
  request: MergeRequest,
  job: FetchJob,
  signal: AbortSignal,
): Promise<Uint8Array | null> {
  using _permit = await deps.limiters.get("storage.chunk").acquire({
    signal,
    priority: priorityOf(request),
  });
  for (const candidate of job.candidates) {
    let bytes: Uint8Array;
    try {
      bytes = await withRetry(
        () => deps.store.getBytes(candidate.key, { signal }),
        signal,
      );
    } catch (error) {
      if (error instanceof NotFoundError) continue;
      throw error;
    }
    try {
      return await deps.decode(candidate.ext, bytes, request.uid, signal);
    } catch (error) {
      if (error instanceof EncryptionUnavailableError) {
        throw encryptionUnavailable(error);
      }
      if (!(error instanceof ChunkDecodeError)) throw error;
      deps.log({
        level: "warn",
        msg: "cannot decode chunk; trying the next format",
        key: candidate.key,
        error: error.message,
      });
    }
  }
  return null;
}

/**
 * The WAV: header, then PCM with gaps filled. In `"strict"` mode the first
 * job whose decoded length misses the plan stops the output; the remaining
 * results are still taken to learn their lengths, then
 * {@linkcode PlanMismatch} carries them all.
 */
async function* wavBody(
  plan: MergePlan,
  results: AsyncIterator<Uint8Array | null>,
  options: {
    total: number;
    planned: readonly (number | null)[];
    mode: "strict" | "pad";
    counts: { present: number; absent: number; deviated: boolean };
  },
): AsyncGenerator<Uint8Array> {
  const { total, planned, mode, counts } = options;
  const actual = [...planned];
  let mismatch = false;
  yield wavHeader(total);
  const filler = new GapFiller(plan.slots[0].timestamp);
  let emitted = 0;
  let currentJob = -1;
  let pcm: Uint8Array | null = null;

  // Never more than the planned size: the header already promised it.
  function* cut(bytes: Uint8Array): Generator<Uint8Array> {
    const room = total - emitted;
    if (room <= 0) {
      if (bytes.length > 0) counts.deviated = true;
      return;
    }
    const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (part.length < bytes.length) counts.deviated = true;
    emitted += part.length;
    if (part.length > 0) yield part;
  }

  for (const slot of plan.slots) {
    if (slot.job < 0) continue;
    if (slot.job !== currentJob) {
      currentJob = slot.job;
      const next = await results.next();
      pcm = next.done ? null : next.value;
      actual[currentJob] = pcm ? pcm.length : null;
      if (pcm) counts.present++;
      else counts.absent++;
      if (actual[currentJob] !== planned[currentJob]) {
        if (mode === "strict") mismatch = true;
        else counts.deviated = true;
      }
    }
    if (!pcm || mismatch) continue;
    const silence = filler.advance(slot.timestamp, pcm.length);
    for (let left = silence; left > 0; left -= SILENCE_BLOCK_BYTES) {
      yield* cut(SILENCE.subarray(0, Math.min(left, SILENCE_BLOCK_BYTES)));
    }
    yield* cut(pcm);
  }
  if (counts.present === 0) throw new NoChunksError();
  if (mismatch) throw new PlanMismatch(actual);
  if (emitted < total) counts.deviated = true;
  while (emitted < total) {
    const size = Math.min(total - emitted, SILENCE_BLOCK_BYTES);
    emitted += size;
    yield SILENCE.subarray(0, size);
  }
}

/**
 * A UTC instant as Python's `datetime.isoformat()` writes it
 * (`2026-05-22T10:11:12.123000+00:00`, no fraction at a whole second), so
 * the original backend, reading the same bucket, parses our `expires_at`
 * on any Python version (reference 1.6).
 */
export function pythonIsoUtc(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-05-22T10:11:12.123Z
  const millis = iso.slice(20, 23);
  const base = iso.slice(0, 19);
  return millis === "000" ? `${base}+00:00` : `${base}.${millis}000+00:00`;
}

function priorityOf(request: MergeRequest): Priority {
  return typeof request.priority === "function"
    ? request.priority()
    : request.priority;
}

function withRetry<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  return retry(fn, {
    maxAttempts: STORAGE_ATTEMPTS,
    minTimeout: STORAGE_BACKOFF_MIN_MS,
    maxTimeout: STORAGE_BACKOFF_MAX_MS,
    isRetriable: isTransient,
    signal,
  }).catch((error) => {
    if (error instanceof RetryError) {
      throw new OverloadedError(
        "Audio storage is failing; try again shortly",
        5,
        error.cause,
      );
    }
    throw error;
  });
}

function encryptionUnavailable(cause: Error): HttpError {
  return new HttpError(
    503,
    "Cannot read encrypted audio: ENCRYPTION_SECRET is not configured",
    { cause },
  );
}
