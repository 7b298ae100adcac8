/**
 * The object-store interface that every storage backend implements (the
 * filesystem, GCS and in-memory stores), its error classes and the key rules
 * they share.
 *
 * @module
 */

/** What a store knows about one stored object. */
export interface ObjectInfo {
  /** The object's key (name) inside its bucket. */
  key: string;
  /** Body length in bytes. */
  size: number;
  /** Changes on every write of the key; never `"0"` (0 means "absent"). */
  generation: string;
  /** MIME type given at write time, `application/octet-stream` by default. */
  contentType: string;
  /** Custom metadata given at write time. */
  metadata: Record<string, string>;
  /** When this generation was written. */
  updated: Date;
}

/** An inclusive byte range, already validated by the caller. */
export interface ByteRange {
  /** First byte offset. */
  start: number;
  /** Last byte offset, inclusive. */
  end: number;
}

/** Options every operation accepts. */
export interface SignalOptions {
  /** Aborts the operation; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@linkcode ObjectStore.get} and {@linkcode ObjectStore.getBytes}. */
export interface GetOptions extends SignalOptions {
  /** Read only these bytes. */
  range?: ByteRange;
}

/** Options of {@linkcode ObjectStore.put}. */
export interface PutOptions extends SignalOptions {
  /** Defaults to {@linkcode DEFAULT_CONTENT_TYPE}. */
  contentType?: string;
  /** Custom metadata stored with the object. */
  metadata?: Record<string, string>;
  /**
   * Write only when the current generation equals this; `0` means "only if
   * the object does not exist". A mismatch throws
   * {@linkcode PreconditionFailedError}.
   */
  ifGenerationMatch?: string | number;
  /**
   * `"durable"` (default): acknowledged means it survives a power cut.
   * `"cache"`: the object can be rebuilt (the merged WAV), so a store may
   * skip flushing it to disk; it is still never seen half-written.
   */
  durability?: "durable" | "cache";
}

/** Options of {@linkcode ObjectStore.signedUrl}. */
export interface SignedUrlOptions {
  /** Lifetime of the URL in seconds. */
  ttlSeconds: number;
  /** Only reads are signed. */
  method?: "GET";
}

/** A bucket of objects addressed by key. */
export interface ObjectStore {
  /** The bucket this store reads and writes. */
  readonly bucket: string;
  /** All objects whose key starts with `prefix`, sorted by key. */
  list(prefix: string, options?: SignalOptions): Promise<ObjectInfo[]>;
  /** The object's info, or `null` when it does not exist. */
  head(key: string, options?: SignalOptions): Promise<ObjectInfo | null>;
  /**
   * The object's info and a stream of its body (or of `range`); throws
   * {@linkcode NotFoundError} when it does not exist. The caller must read
   * the body to the end or cancel it.
   */
  get(
    key: string,
    options?: GetOptions,
  ): Promise<{ info: ObjectInfo; body: ReadableStream<Uint8Array> }>;
  /** The object's body (or `range`) as bytes; {@linkcode NotFoundError} when missing. */
  getBytes(key: string, options?: GetOptions): Promise<Uint8Array>;
  /** Writes the object in one piece and returns its new info. */
  put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    options?: PutOptions,
  ): Promise<ObjectInfo>;
  /** Deletes the object; `false` when it did not exist. */
  delete(key: string, options?: SignalOptions): Promise<boolean>;
  /** Deletes every object under `prefix`; returns how many were deleted. */
  deletePrefix(prefix: string, options?: SignalOptions): Promise<number>;
  /** A URL that lets anyone holding it read the object until it expires. */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string>;
}

/** The content type of an object written without one (GCS's default too). */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/** The object does not exist. */
export class NotFoundError extends Error {
  /** Bucket of the missing object. */
  readonly bucket: string;
  /** Key of the missing object. */
  readonly key: string;

  /**
   * @param bucket bucket of the missing object
   * @param key key of the missing object
   */
  constructor(bucket: string, key: string, options?: { cause?: unknown }) {
    super(`Cannot find object "${key}" in bucket "${bucket}"`, options);
    this.name = "NotFoundError";
    this.bucket = bucket;
    this.key = key;
  }
}

/** A write's `ifGenerationMatch` did not hold. */
export class PreconditionFailedError extends Error {
  /** Key of the object that was not written. */
  readonly key: string;

  /**
   * @param key key of the object that was not written
   * @param expected the generation the writer asked for
   */
  constructor(
    key: string,
    expected: string | number,
    options?: { cause?: unknown },
  ) {
    super(
      `Cannot write object "${key}": its generation is not ${expected}`,
      options,
    );
    this.name = "PreconditionFailedError";
    this.key = key;
  }
}

/**
 * A failure that may go away when retried: HTTP 429 or 5xx, a reset or
 * timed-out connection. `cause` holds the original error.
 */
export class TransientStorageError extends Error {
  /** HTTP status when the failure was a reply, else `undefined`. */
  readonly status: number | undefined;

  /**
   * @param message what failed
   * @param options the original error and the HTTP status, when there was one
   */
  constructor(
    message: string,
    options: { cause: unknown; status?: number },
  ) {
    super(message, { cause: options.cause });
    this.name = "TransientStorageError";
    this.status = options.status;
  }
}

/** Whether `err` is worth retrying, i.e. a {@linkcode TransientStorageError}. */
export function isTransient(err: unknown): err is TransientStorageError {
  return err instanceof TransientStorageError;
}

/**
 * Throws a `TypeError` unless `key` is a safe object key: non-empty, no
 * leading `/`, no empty, `.` or `..` segment, no NUL or other control
 * character. Callers validate ids earlier; this is defence in depth, and the
 * filesystem store relies on it to stay inside its root.
 */
export function assertValidKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new TypeError(`Cannot use object key "${key}": it is empty`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) {
    throw new TypeError(
      `Cannot use object key ${
        JSON.stringify(key)
      }: it holds a control character`,
    );
  }
  if (key.includes("\\")) {
    throw new TypeError(`Cannot use object key "${key}": it holds a backslash`);
  }
  for (const segment of key.split("/")) {
    if (segment === "") {
      throw new TypeError(
        `Cannot use object key "${key}": it has an empty segment or is absolute`,
      );
    }
    if (segment === "." || segment === "..") {
      throw new TypeError(
        `Cannot use object key "${key}": it has a "${segment}" segment`,
      );
    }
  }
}

/**
 * Throws a `TypeError` unless `prefix` is a safe listing prefix: empty, or a
 * key (possibly ending in `/`, possibly a partial last segment).
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === "") return;
  assertValidKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
}

/** Reads a byte stream to the end into one `Uint8Array`. */
export async function collectBytes(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const part of stream) {
    parts.push(part);
    length += part.byteLength;
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
