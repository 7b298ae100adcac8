/**
 * The merged-audio cache: get-or-create with one validity rule, single
 * flight per file, priorities, per-user caps, precache in the background,
 * and signed URLs (reference 4.2 and 4.3).
 *
 * Every merge holds a `storage.file` permit, interactive ones ahead of
 * precache and counted against the caller's per-user cap; its chunk fetches
 * then hold `storage.chunk` permits. No permit holder waits on its own
 * limiter, and no merge runs twice at once for the same file.
 *
 * @module
 */
import type { Priority } from "../concurrency/semaphore.ts";
import { SingleFlight } from "../concurrency/single_flight.ts";
import type { AudioFile } from "../db/conversations.ts";
import { mergedKey } from "../storage/keys.ts";
import { WAV_HEADER_BYTES } from "../audio/wav.ts";
import { PCM_BYTES_METADATA } from "./pcm_length.ts";
import type { ObjectInfo } from "../storage/object_store.ts";
import {
  mergeAudioFile,
  type MergeDeps,
  NoChunksError,
} from "./merge_audio_file.ts";

/** Signed URLs kept for reuse; beyond this the oldest are forgotten. */
const MAX_REMEMBERED_URLS = 10_000;
/** Merged WAV URLs live 60 minutes (reference 1.7). */
export const MERGED_URL_TTL_SECONDS = 3600;
/**
 * How long an interactive merge may queue for a `storage.file` permit before
 * answering 503: a user waiting on a download should get an answer.
 */
export const INTERACTIVE_QUEUE_MS = 10_000;

/** One file to make available. */
export interface EnsureRequest {
  uid: string;
  cid: string;
  file: AudioFile;
  priority: Priority;
  signal?: AbortSignal;
}

interface FlightState {
  priority: Priority;
  /** Aborts a background permit wait so it can requeue as interactive. */
  requeue?: AbortController;
}

/**
 * Whether a cache object is fresh: it exists and its `expires_at` parses and
 * lies in the future. The original treated a missing `expires_at` as valid
 * for URLs and invalid for downloads; here one rule serves both.
 *
 * @param info the cache object's metadata, or null when it does not exist
 * @param now milliseconds since the epoch
 */
export function isFresh(info: ObjectInfo | null, now: number): boolean {
  const expiresAt = info?.metadata.expires_at;
  if (!info || !expiresAt) return false;
  const at = Date.parse(expiresAt);
  if (!Number.isFinite(at) || at <= now) return false;
  // The cache is written without a flush to disk: after a power cut it may
  // be cut short. A size that disagrees with its own PCM length is a miss.
  const pcm = info.metadata[PCM_BYTES_METADATA];
  return pcm === undefined || info.size === WAV_HEADER_BYTES + Number(pcm);
}

/** Makes merged WAVs available and tells whether they are. */
export class MergedAudio {
  #deps: MergeDeps;
  #flights = new SingleFlight<string, ObjectInfo>();
  #states = new Map<string, FlightState>();
  #urls = new Map<string, { url: string; until: number }>();
  #background = new Set<Promise<unknown>>();

  /** @param deps what merges need */
  constructor(deps: MergeDeps) {
    this.#deps = deps;
  }

  /** Merges running right now. */
  get inFlight(): number {
    return this.#flights.inFlight;
  }

  /** The fresh cache object of a file, or null. */
  async cached(
    uid: string,
    cid: string,
    fid: string,
  ): Promise<ObjectInfo | null> {
    const info = await this.#deps.store.head(mergedKey(uid, cid, fid));
    return isFresh(info, this.#deps.clock.now()) ? info : null;
  }

  /**
   * Returns the fresh cache object, merging first when there is none.
   * Concurrent callers for one file share one merge.
   *
   * @throws {NoChunksError} when the file has no audio in storage
   */
  async ensure(request: EnsureRequest): Promise<ObjectInfo> {
    const { uid, cid, file } = request;
    const hit = await this.cached(uid, cid, file.id);
    if (hit) return hit;
    const key = mergedKey(uid, cid, file.id);
    const state = this.#states.get(key);
    if (state && request.priority === "interactive") {
      // Someone waits: the shared merge stops being speculative.
      state.priority = "interactive";
      state.requeue?.abort();
    }
    return await this.#flights.run(
      key,
      (signal) => this.#merge(key, request, signal),
      { signal: request.signal },
    );
  }

  async #merge(
    key: string,
    request: EnsureRequest,
    signal: AbortSignal,
  ): Promise<ObjectInfo> {
    const state: FlightState = { priority: request.priority };
    this.#states.set(key, state);
    try {
      using _permit = await this.#acquireFile(request.uid, state, signal);
      // Another instance may have finished it while this one queued.
      const hit = await this.cached(request.uid, request.cid, request.file.id);
      if (hit) return hit;
      const result = await mergeAudioFile(this.#deps, {
        uid: request.uid,
        cid: request.cid,
        fid: request.file.id,
        timestamps: request.file.chunk_timestamps,
        priority: () => state.priority,
        signal,
      });
      return result.info;
    } finally {
      // A newer flight for the key may have started after this one was
      // dropped (all its callers aborted); leave its state alone.
      if (this.#states.get(key) === state) this.#states.delete(key);
    }
  }

  async #acquireFile(uid: string, state: FlightState, signal: AbortSignal) {
    const limiter = this.#deps.limiters.get("storage.file");
    while (true) {
      if (state.priority === "interactive") {
        return await limiter.acquire({
          signal,
          priority: "interactive",
          key: uid,
          timeoutMs: INTERACTIVE_QUEUE_MS,
        });
      }
      state.requeue = new AbortController();
      try {
        // No per-user key: the cap protects what users wait for, and a
        // user's own precache must never crowd out that user's downloads.
        return await limiter.acquire({
          signal: AbortSignal.any([signal, state.requeue.signal]),
          priority: "background",
        });
      } catch (error) {
        // Promoted while queued: wait again, now ahead of precache.
        if (state.requeue.signal.aborted && !signal.aborted) continue;
        throw error;
      } finally {
        state.requeue = undefined;
      }
    }
  }

  /**
   * Starts merging `files` in the background at precache priority and
   * returns at once; failures are logged.
   *
   * @returns how many files were queued
   */
  precache(
    uid: string,
    cid: string,
    files: readonly AudioFile[],
    options: { signal?: AbortSignal } = {},
  ): number {
    const eligible = files.filter((file) =>
      file.id && file.chunk_timestamps.length > 0
    );
    if (eligible.length === 0) return 0;
    // One file after another: a conversation's precache holds at most one
    // queue place, however many files it has.
    const task = (async () => {
      for (const file of eligible) {
        if (options.signal?.aborted) return;
        await this.startInBackground(
          { uid, cid, file, priority: "background" },
          options,
        );
      }
    })();
    this.#background.add(task);
    task.finally(() => this.#background.delete(task));
    return eligible.length;
  }

  /**
   * Starts one merge that no caller waits on (it survives the request that
   * started it) and returns its promise, which never rejects: failures are
   * logged and resolve to null.
   */
  startInBackground(
    request: Omit<EnsureRequest, "signal">,
    options: { signal?: AbortSignal } = {},
  ): Promise<ObjectInfo | null> {
    const { uid, cid, file } = request;
    const task = this.ensure({ ...request, signal: options.signal }).catch(
      (error) => {
        if (options.signal?.aborted) return null;
        this.#deps.log({
          level: error instanceof NoChunksError ? "info" : "warn",
          msg: "background merge failed",
          uid,
          conversation_id: cid,
          audio_file_id: file.id,
          error: error instanceof Error ? error.message : String(error),
        });
        return null;
      },
    );
    this.#background.add(task);
    task.finally(() => this.#background.delete(task));
    return task;
  }

  /** Resolves when every background merge started so far has settled. */
  async idle(): Promise<void> {
    while (this.#background.size > 0) {
      await Promise.allSettled([...this.#background]);
    }
  }

  #rememberUrl(key: string, entry: { url: string; until: number }): void {
    this.#urls.delete(key);
    this.#urls.set(key, entry);
    // Oldest first (insertion order): drop the expired, then the overflow.
    const now = this.#deps.clock.now();
    for (const [known, { until }] of this.#urls) {
      if (this.#urls.size <= MAX_REMEMBERED_URLS && until > now) break;
      this.#urls.delete(known);
    }
  }

  /**
   * A signed URL of the fresh cache object, or null when there is none.
   * URLs are reused for at most half their lifetime, so a client never gets
   * one about to expire (the original could hand out one with 1 s left).
   */
  async signedUrl(
    uid: string,
    cid: string,
    fid: string,
  ): Promise<string | null> {
    const key = mergedKey(uid, cid, fid);
    const now = this.#deps.clock.now();
    const known = this.#urls.get(key);
    if (known && known.until > now) {
      // The cache object can expire or vanish under a remembered URL.
      if (await this.cached(uid, cid, fid)) return known.url;
      this.#urls.delete(key);
      return null;
    }
    if (!await this.cached(uid, cid, fid)) return null;
    const url = await this.#deps.store.signedUrl(key, {
      ttlSeconds: MERGED_URL_TTL_SECONDS,
    });
    this.#rememberUrl(key, { url, until: now + MERGED_URL_TTL_SECONDS * 500 });
    return url;
  }
}
