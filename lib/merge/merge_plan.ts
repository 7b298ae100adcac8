/**
 * Plans the merge of one audio file (reference section 4.1, steps 1-3 and
 * 6): every requested timestamp is resolved against one listing of the
 * conversation's prefix to the exact objects that can serve it, so a merge
 * costs one GET per object instead of the original's up to four guesses.
 *
 * @module
 */
import { pyRound } from "../py_number.ts";
import { CHUNK_FETCH_ORDER, type ListedChunk } from "../storage/keys.ts";
import { formatFixed } from "../py_number.ts";

/** One object to fetch for a merge; a chunk may list fallbacks. */
export interface FetchJob {
  /** `"chunk"` for a single chunk, `"batch"` for a batch blob. */
  kind: "chunk" | "batch";
  /** The requested timestamp (chunk) or the batch's `first`. */
  timestamp: number;
  /**
   * Objects that can serve it, best first: for a chunk every listed
   * extension of its timestamp in the original's fetch order, so a chunk
   * that fails to decrypt or decode falls through to the next (reference
   * 4.1 step 3); for a batch exactly one object.
   */
  candidates: ListedChunk[];
}

/** One requested timestamp in assembly order and the job that serves it. */
export interface PlanSlot {
  timestamp: number;
  /** Index into `jobs`, or -1 when nothing can serve it (absent). */
  job: number;
}

/** The resolved merge of one audio file. */
export interface MergePlan {
  /** Requested timestamps sorted, duplicates kept (reference 4.1 step 6). */
  slots: PlanSlot[];
  /** Distinct objects to fetch, in the order their first slot needs them. */
  jobs: FetchJob[];
}

/** Key timestamps have three decimals (reference section 1.2). */
const KEY_DECIMALS = 3;

/**
 * Resolves requested timestamps against a listing.
 *
 * Rules of the original kept here: a timestamp covered by a batch
 * (`first <= round(t, 3) <= last`) is never fetched on its own; the whole
 * batch is placed at `first` and only when `first` itself is requested; of
 * two batches covering one timestamp the later in the sorted listing wins.
 * Timestamps with no object are absent (silence when gaps are filled).
 *
 * @param listing the parsed listing, sorted by timestamp
 * @param requested the audio file's chunk timestamps
 */
export function planMerge(
  listing: readonly ListedChunk[],
  requested: readonly number[],
): MergePlan {
  const batches = listing.filter((entry) => entry.isBatch);
  const singles = new Map<string, ListedChunk[]>();
  for (const entry of listing) {
    if (entry.isBatch) continue;
    const name = formatFixed(entry.timestamp, KEY_DECIMALS);
    const list = singles.get(name) ?? [];
    list.push(entry);
    singles.set(name, list);
  }

  const sorted = [...requested].sort((a, b) => a - b);
  const jobs: FetchJob[] = [];
  const jobByKey = new Map<string, number>();
  const slots: PlanSlot[] = [];

  function jobFor(key: string, make: () => FetchJob): number {
    let index = jobByKey.get(key);
    if (index === undefined) {
      index = jobs.push(make()) - 1;
      jobByKey.set(key, index);
    }
    return index;
  }

  for (const t of sorted) {
    const rounded = pyRound(t, KEY_DECIMALS);
    let covering: ListedChunk | undefined;
    for (const batch of batches) {
      if (batch.first <= rounded && rounded <= batch.last) covering = batch;
    }
    if (covering) {
      const batch = covering;
      slots.push({
        timestamp: t,
        // A batch plays at its first timestamp only (reference 1.5).
        job: batch.first === t
          ? jobFor(`batch:${batch.key}`, () => ({
            kind: "batch",
            timestamp: batch.first,
            candidates: [batch],
          }))
          : -1,
      });
      continue;
    }
    const name = formatFixed(t, KEY_DECIMALS);
    const listed = singles.get(name);
    if (!listed) {
      slots.push({ timestamp: t, job: -1 });
      continue;
    }
    const candidates = CHUNK_FETCH_ORDER
      .map((ext) => listed.find((entry) => entry.ext === ext))
      .filter((entry): entry is ListedChunk => entry !== undefined);
    slots.push({
      timestamp: t,
      job: jobFor(`chunk:${name}`, () => ({
        kind: "chunk",
        timestamp: t,
        candidates,
      })),
    });
  }
  return { slots, jobs };
}
