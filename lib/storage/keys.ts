/**
 * The object-key contract of the private cloud sync bucket (reference §1.2,
 * §1.3): how chunk, batch and merged-cache keys are built, how a listed name
 * is parsed back, and how ids and timestamps from URLs are validated before
 * they become part of a key.
 *
 * @module
 */
import { HttpError } from "../http_error.ts";
import { formatFixed } from "../py_number.ts";

/** The extension of a single (non-batch) chunk object. */
export type SingleChunkExt = "opus.enc" | "opus" | "enc" | "bin";

/** The extension of a batch blob. */
export type BatchExt = "batch.enc" | "batch.bin";

/** One of the six stored chunk formats (reference §1.3). */
export type ChunkExt = BatchExt | SingleChunkExt;

/**
 * All six extensions, longest suffix first: the order in which a listed name
 * is matched (reference §1.3, precedence 1).
 */
export const CHUNK_EXTS: readonly ChunkExt[] = [
  "batch.enc",
  "batch.bin",
  "opus.enc",
  "opus",
  "enc",
  "bin",
];

/**
 * The order in which one chunk timestamp is fetched by built name
 * (reference §1.3, precedence 2, and §4.1 step 3).
 */
export const CHUNK_FETCH_ORDER: readonly SingleChunkExt[] = [
  "opus.enc",
  "enc",
  "opus",
  "bin",
];

/** Digits after the point of every timestamp in a key (reference §1.2). */
const KEY_TIMESTAMP_DECIMALS = 3;

/** A chunk or batch object name, parsed. */
export interface ParsedChunk {
  /** Where the object is listed: the chunk's `ts`, or a batch's `first`. */
  timestamp: number;
  /** First chunk timestamp; equals `timestamp`. */
  first: number;
  /** Last chunk timestamp of a batch; equals `first` for a single chunk. */
  last: number;
  /** The matched extension. */
  ext: ChunkExt;
  /** Whether the object is a batch blob. */
  isBatch: boolean;
  /** The name as given (the full object key when parsing a listing). */
  key: string;
}

/** A listed chunk or batch object with its size (reference §1.3). */
export interface ListedChunk extends ParsedChunk {
  /** Object size in bytes. */
  size: number;
}

function keyTimestamp(ts: number, what: string): string {
  if (!Number.isFinite(ts) || ts < 0) {
    throw new RangeError(
      `Cannot build ${what} key: timestamp ${ts} is not a finite non-negative number`,
    );
  }
  return formatFixed(ts, KEY_TIMESTAMP_DECIMALS);
}

/**
 * The prefix that holds every chunk and batch of a conversation.
 *
 * @example
 * ```ts
 * chunkPrefix("u1", "c1"); // "chunks/u1/c1/"
 * ```
 */
export function chunkPrefix(uid: string, cid: string): string {
  return `chunks/${uid}/${cid}/`;
}

/**
 * The key of a single chunk: `chunks/{uid}/{cid}/{ts:.3f}.{ext}`, with the
 * timestamp rounded the Python way.
 *
 * @example
 * ```ts
 * chunkKey("u1", "c1", 1717171717.12, "opus");
 * // "chunks/u1/c1/1717171717.120.opus"
 * ```
 */
export function chunkKey(
  uid: string,
  cid: string,
  ts: number,
  ext: SingleChunkExt,
): string {
  return `${chunkPrefix(uid, cid)}${keyTimestamp(ts, "chunk")}.${ext}`;
}

/**
 * The key of a batch blob: `{first:.3f}-{last:.3f}.{ext}` under the chunk
 * prefix, or `{first:.3f}.{ext}` when both timestamps print the same (a
 * one-chunk batch).
 *
 * @example
 * ```ts
 * batchKey("u1", "c1", 1717171717, 1717171777.5, "batch.bin");
 * // "chunks/u1/c1/1717171717.000-1717171777.500.batch.bin"
 * ```
 */
export function batchKey(
  uid: string,
  cid: string,
  first: number,
  last: number,
  ext: BatchExt,
): string {
  const f = keyTimestamp(first, "batch");
  const l = keyTimestamp(last, "batch");
  const stem = f === l ? f : `${f}-${l}`;
  return `${chunkPrefix(uid, cid)}${stem}.${ext}`;
}

/**
 * The key of the merged WAV cache object of one audio file.
 *
 * @example
 * ```ts
 * mergedKey("u1", "c1", "f1"); // "merged/u1/c1/f1.wav"
 * ```
 */
export function mergedKey(uid: string, cid: string, fid: string): string {
  return `merged/${uid}/${cid}/${fid}.wav`;
}

/**
 * Python's `float()` accepts more (underscores, `inf`, `nan`, spaces); the
 * stems that matter are always plain decimals, and a non-finite timestamp
 * has no place in a listing, so this takes plain decimals only.
 */
const FLOAT_STEM = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const BATCH_RANGE_STEM =
  /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)-((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$/;

function parseFloatStem(stem: string): number | null {
  if (!FLOAT_STEM.test(stem)) return null;
  const value = Number(stem);
  return Number.isFinite(value) ? value : null;
}

/**
 * Parses a listed object name (a full key or a bare file name) per
 * reference §1.3: the longest matching suffix wins, a name containing
 * `.batch.` is a batch, a batch stem `first-last` is listed at `first`,
 * any other stem is one number.
 *
 * @param name the object key or file name
 * @returns the parsed name, or `null` for a name that has no chunk suffix or
 *   whose stem is not a number (such names are skipped silently)
 *
 * @example
 * ```ts
 * parseChunkName("chunks/u/c/1717171717.000-1717171777.000.batch.enc");
 * // { timestamp: 1717171717, first: 1717171717, last: 1717171777,
 * //   ext: "batch.enc", isBatch: true, key: "chunks/u/c/..." }
 * ```
 */
export function parseChunkName(name: string): ParsedChunk | null {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const ext = CHUNK_EXTS.find((e) => base.endsWith(`.${e}`));
  if (ext === undefined) return null;
  const stem = base.slice(0, base.length - ext.length - 1);
  const isBatch = base.includes(".batch.");
  if (isBatch) {
    const range = BATCH_RANGE_STEM.exec(stem);
    if (range !== null) {
      const first = parseFloatStem(range[1]);
      const last = parseFloatStem(range[2]);
      if (first === null || last === null) return null;
      return { timestamp: first, first, last, ext, isBatch, key: name };
    }
  }
  // A single number; for a name like "1.000.batch.opus" the stem keeps
  // ".batch" and so fails here, as it does in the original.
  const ts = parseFloatStem(stem);
  if (ts === null) return null;
  return { timestamp: ts, first: ts, last: ts, ext, isBatch, key: name };
}

/**
 * Turns a listing of a chunk prefix into chunk entries sorted by timestamp
 * (stable: equal timestamps keep listing order). Unparseable names are
 * dropped.
 *
 * @example
 * ```ts
 * parseListing([{ key: "chunks/u/c/2.000.opus", size: 10 }]);
 * // [{ timestamp: 2, ..., size: 10 }]
 * ```
 */
export function parseListing(
  names: readonly { key: string; size: number }[],
): ListedChunk[] {
  const out: ListedChunk[] = [];
  for (const { key, size } of names) {
    const parsed = parseChunkName(key);
    if (parsed !== null) out.push({ ...parsed, size });
  }
  // Array.prototype.sort is stable, like Python's sorted().
  return out.sort((a, b) => a.timestamp - b.timestamp);
}

/** The kinds of id that appear as one path segment of a key or URL. */
export type PathIdKind = "uid" | "conversation_id" | "audio_file_id" | "job_id";

/** Longest id accepted in a path segment; Firestore ids are at most 1500
 * bytes, but every id this service sees (Firebase uids, UUIDs) is far under
 * 128, and a short bound keeps keys and logs sane. */
export const MAX_PATH_ID_LENGTH = 128;

// Control characters: C0, DEL and C1.
// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
const WHITESPACE = /\s/;

function quoteForMessage(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
  return JSON.stringify(shown);
}

/**
 * Checks that an id can be used as one segment of an object key: not empty,
 * at most {@linkcode MAX_PATH_ID_LENGTH} characters, no `/`, `\`, `..`,
 * not `.`, no control characters, no whitespace.
 *
 * @param kind what the id is, for the error message
 * @param value the id
 * @returns `value`, unchanged
 * @throws {HttpError} 400 with a detail that names the kind and the reason
 *
 * @example
 * ```ts
 * validatePathId("conversation_id", "abc"); // "abc"
 * validatePathId("uid", "../x"); // throws HttpError 400
 * ```
 */
export function validatePathId(kind: PathIdKind, value: string): string {
  const reason = pathIdProblem(value);
  if (reason !== null) {
    throw new HttpError(
      400,
      `Invalid ${kind} ${quoteForMessage(value)}: ${reason}`,
    );
  }
  return value;
}

function pathIdProblem(value: string): string | null {
  if (value.length === 0) return "must not be empty";
  if (value.length > MAX_PATH_ID_LENGTH) {
    return `longer than ${MAX_PATH_ID_LENGTH} characters`;
  }
  if (value.includes("/")) return "must not contain '/'";
  if (value.includes("\\")) return "must not contain '\\'";
  if (value === ".") return "must not be '.'";
  if (value.includes("..")) return "must not contain '..'";
  if (CONTROL_CHARS.test(value)) return "must not contain control characters";
  if (WHITESPACE.test(value)) return "must not contain whitespace";
  return null;
}

/**
 * Earliest timestamp accepted from a URL: 1e9 s is 2001-09-09, before any
 * recording device of this product existed.
 */
export const MIN_URL_TIMESTAMP = 1e9;
/** First timestamp refused from a URL: 1e10 s is the year 2286. */
export const MAX_URL_TIMESTAMP = 1e10;
/** Longer timestamp texts are refused before parsing. */
const MAX_TIMESTAMP_TEXT_LENGTH = 32;
const DECIMAL_SECONDS = /^\d+(?:\.\d+)?$/;

/**
 * Parses a timestamp path parameter (Unix seconds): plain decimal digits
 * with an optional fraction, no sign, exponent or hex, within
 * [{@linkcode MIN_URL_TIMESTAMP}, {@linkcode MAX_URL_TIMESTAMP}).
 *
 * @throws {HttpError} 400 with a detail saying what is wrong
 *
 * @example
 * ```ts
 * parseTimestampParam("1717171717.120"); // 1717171717.12
 * parseTimestampParam("1e9"); // throws HttpError 400
 * ```
 */
export function parseTimestampParam(text: string): number {
  const shown = quoteForMessage(text);
  if (text.length > MAX_TIMESTAMP_TEXT_LENGTH) {
    throw new HttpError(
      400,
      `Invalid timestamp ${shown}: longer than ${MAX_TIMESTAMP_TEXT_LENGTH} characters`,
    );
  }
  if (text.startsWith("-")) {
    throw new HttpError(
      400,
      `Invalid timestamp ${shown}: must not be negative`,
    );
  }
  if (!DECIMAL_SECONDS.test(text)) {
    throw new HttpError(
      400,
      `Invalid timestamp ${shown}: expected decimal seconds like 1717171717.120`,
    );
  }
  const value = Number(text);
  if (value < MIN_URL_TIMESTAMP || value >= MAX_URL_TIMESTAMP) {
    throw new HttpError(
      400,
      `Invalid timestamp ${shown}: must be Unix seconds from ${MIN_URL_TIMESTAMP} (2001) to below ${MAX_URL_TIMESTAMP} (2286)`,
    );
  }
  return value;
}
