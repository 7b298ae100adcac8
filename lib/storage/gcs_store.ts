/**
 * An {@linkcode ObjectStore} on Google Cloud Storage through
 * `@google-cloud/storage`. Setting `STORAGE_EMULATOR_HOST` (with a scheme,
 * e.g. `http://127.0.0.1:9199`) points the client library at an emulator.
 *
 * @module
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type File, Storage } from "@google-cloud/storage";
import { abortable, pooledMap } from "@std/async";
import { type Clock, systemClock } from "../clock.ts";
import {
  assertValidKey,
  assertValidPrefix,
  DEFAULT_CONTENT_TYPE,
  type GetOptions,
  NotFoundError,
  type ObjectInfo,
  type ObjectStore,
  PreconditionFailedError,
  type PutOptions,
  type SignalOptions,
  type SignedUrlOptions,
  TransientStorageError,
} from "./object_store.ts";

/** Options of {@linkcode GcsStore}. */
export interface GcsStoreOptions {
  /** The bucket to read and write. */
  bucket: string;
  /** A configured client; when given, the options below are ignored. */
  storage?: Storage;
  /** Project id for the client it builds. */
  projectId?: string;
  /** API endpoint for the client it builds (an emulator, a private endpoint). */
  apiEndpoint?: string;
  /**
   * Service-account credentials. Without them the client uses Application
   * Default Credentials, which on Google infrastructure can also sign URLs.
   */
  credentials?: { client_email: string; private_key: string };
  /** Objects per listing request; 1000 (the GCS maximum) by default. */
  pageSize?: number;
  /** Source of time for URL expiry; the system clock by default. */
  clock?: Clock;
}

/** The most objects one GCS listing request returns. */
const GCS_MAX_PAGE_SIZE = 1000;
/** V4 signed URLs live at most 7 days (GCS limit). */
const MAX_SIGNED_URL_SECONDS = 7 * 24 * 60 * 60;
/** Concurrent deletes in `deletePrefix`; a conversation has tens to hundreds of chunks. */
const DELETE_CONCURRENCY = 8;
/** Bodies up to this size go in one multipart request; larger ones resume. */
const SIMPLE_UPLOAD_MAX_BYTES = 8 * 1024 * 1024;
/** Network errors that a retry may cure. */
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "ESOCKETTIMEDOUT",
  "ECONNABORTED",
]);

/**
 * Objects in one GCS bucket.
 *
 * The client it builds has the library's automatic retries turned off: a
 * failure surfaces at once as a {@linkcode TransientStorageError}, and the
 * caller, which holds the limiter permits and knows the request's deadline,
 * decides whether to retry.
 *
 * @example
 * ```ts
 * const store = new GcsStore({ bucket: "omi-private-cloud-sync" });
 * const url = await store.signedUrl("merged/u/c/f.wav", { ttlSeconds: 3600 });
 * ```
 */
export class GcsStore implements ObjectStore {
  /** The bucket this store reads and writes. */
  readonly bucket: string;
  #storage: Storage;
  #pageSize: number;
  #clock: Clock;

  /** @param options the bucket and how to reach it */
  constructor(options: GcsStoreOptions) {
    this.bucket = options.bucket;
    this.#pageSize = options.pageSize ?? GCS_MAX_PAGE_SIZE;
    this.#clock = options.clock ?? systemClock;
    if (options.storage) {
      this.#storage = options.storage;
      return;
    }
    const emulatorHost = Deno.env.get("STORAGE_EMULATOR_HOST");
    if (emulatorHost !== undefined && !/^https?:\/\//.test(emulatorHost)) {
      // The library uses the variable verbatim as its base URL.
      throw new TypeError(
        `Cannot use STORAGE_EMULATOR_HOST "${emulatorHost}": it needs a scheme, e.g. http://${emulatorHost}`,
      );
    }
    this.#storage = new Storage({
      projectId: options.projectId,
      apiEndpoint: options.apiEndpoint,
      credentials: options.credentials,
      retryOptions: { autoRetry: false },
    });
  }

  /** All objects under `prefix`, sorted by key, across every page. */
  async list(prefix: string, options?: SignalOptions): Promise<ObjectInfo[]> {
    assertValidPrefix(prefix);
    const bucket = this.#storage.bucket(this.bucket);
    const infos: ObjectInfo[] = [];
    let pageToken: string | undefined;
    do {
      const [files, next] = await this.#call(
        prefix,
        options?.signal,
        () =>
          bucket.getFiles({
            prefix,
            maxResults: this.#pageSize,
            pageToken,
            autoPaginate: false,
          }),
      );
      for (const file of files) infos.push(toInfo(file));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
    // GCS lists in UTF-8 byte order; sort anyway so every store agrees.
    return infos.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The object's info, or `null` when it does not exist. */
  async head(key: string, options?: SignalOptions): Promise<ObjectInfo | null> {
    assertValidKey(key);
    const file = this.#file(key);
    try {
      await this.#call(key, options?.signal, () => file.getMetadata());
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
    return toInfo(file);
  }

  /**
   * The object's info and a stream of its body (or of `range`). The body is
   * read from the generation that `info` describes, so a concurrent
   * overwrite cannot pair new bytes with old metadata.
   */
  async get(
    key: string,
    options?: GetOptions,
  ): Promise<{ info: ObjectInfo; body: ReadableStream<Uint8Array> }> {
    const info = await this.head(key, options);
    if (!info) throw new NotFoundError(this.bucket, key);
    const file = this.#storage.bucket(this.bucket).file(key, {
      generation: Number(info.generation),
    });
    if (info.size === 0) {
      return { info, body: new ReadableStream({ start: (c) => c.close() }) };
    }
    const range = options?.range;
    const readable = file.createReadStream(
      range ? { start: range.start, end: range.end } : {},
    );
    return {
      info,
      body: await toWebStream(
        readable,
        (err) => this.#mapError(err, key),
        { signal: options?.signal },
      ),
    };
  }

  /** The object's body (or `range`) as bytes. */
  async getBytes(key: string, options?: GetOptions): Promise<Uint8Array> {
    assertValidKey(key);
    const range = options?.range;
    const [buffer] = await this.#call(
      key,
      options?.signal,
      () =>
        this.#file(key).download(
          range ? { start: range.start, end: range.end } : {},
        ),
    );
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  /**
   * Writes the object and returns its new info. Byte bodies up to 8 MiB go
   * in one request; streams and larger bodies use a resumable upload.
   */
  async put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ObjectInfo> {
    assertValidKey(key);
    const file = this.#file(key);
    const resumable = !(body instanceof Uint8Array &&
      body.byteLength <= SIMPLE_UPLOAD_MAX_BYTES);
    const contentType = options.contentType ?? DEFAULT_CONTENT_TYPE;
    const writeOptions = {
      resumable,
      contentType,
      metadata: { contentType, metadata: { ...options.metadata } },
      preconditionOpts: options.ifGenerationMatch === undefined
        ? undefined
        : { ifGenerationMatch: Number(options.ifGenerationMatch) },
    };
    try {
      options.signal?.throwIfAborted();
      const source = body instanceof Uint8Array
        ? Readable.from([body])
        : Readable.fromWeb(
          body as import("node:stream/web").ReadableStream<Uint8Array>,
        );
      await pipeline(source, file.createWriteStream(writeOptions), {
        signal: options.signal,
      });
    } catch (err) {
      const mapped = this.#mapError(err, key);
      if (mapped instanceof PreconditionFailedError) {
        throw new PreconditionFailedError(
          key,
          options.ifGenerationMatch ?? "",
          { cause: err },
        );
      }
      throw mapped;
    }
    return toInfo(file);
  }

  /** Deletes the object; `false` when it did not exist. */
  async delete(key: string, options?: SignalOptions): Promise<boolean> {
    assertValidKey(key);
    try {
      await this.#call(key, options?.signal, () => this.#file(key).delete());
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** Deletes every object under a non-empty `prefix`; returns the count. */
  async deletePrefix(prefix: string, options?: SignalOptions): Promise<number> {
    if (prefix === "") {
      throw new TypeError("Cannot delete by prefix: the prefix is empty");
    }
    const infos = await this.list(prefix, options);
    let deleted = 0;
    const results = pooledMap(
      DELETE_CONCURRENCY,
      infos,
      (info) => this.delete(info.key, options),
    );
    for await (const existed of results) if (existed) deleted++;
    return deleted;
  }

  /** A V4 signed GET URL valid for `ttlSeconds` (at most 7 days). */
  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    assertValidKey(key);
    const { ttlSeconds } = options;
    if (
      !(Number.isFinite(ttlSeconds) && ttlSeconds > 0 &&
        ttlSeconds <= MAX_SIGNED_URL_SECONDS)
    ) {
      throw new TypeError(
        `Cannot sign a URL for ${ttlSeconds} s: V4 URLs live between 1 s and 7 days`,
      );
    }
    const [url] = await this.#call(
      key,
      undefined,
      () =>
        this.#file(key).getSignedUrl({
          version: "v4",
          action: "read",
          expires: this.#clock.now() + ttlSeconds * 1000,
        }),
    );
    return url;
  }

  #file(key: string): File {
    return this.#storage.bucket(this.bucket).file(key);
  }

  async #call<T>(
    key: string,
    signal: AbortSignal | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    signal?.throwIfAborted();
    try {
      // The library cannot cancel most calls; the caller stops waiting.
      return signal ? await abortable(fn(), signal) : await fn();
    } catch (err) {
      throw this.#mapError(err, key);
    }
  }

  #mapError(err: unknown, key: string): unknown {
    return toStorageError(err, { bucket: this.bucket, key });
  }
}

/**
 * Maps a client-library error to this module's errors: 404 to
 * {@linkcode NotFoundError}, 412 to {@linkcode PreconditionFailedError}, 429,
 * 5xx and network resets or time-outs to {@linkcode TransientStorageError}.
 * Anything else (an abort, a 403) is returned unchanged.
 */
export function toStorageError(
  err: unknown,
  object: { bucket: string; key: string },
): unknown {
  if (
    err instanceof NotFoundError || err instanceof PreconditionFailedError ||
    err instanceof TransientStorageError
  ) {
    return err;
  }
  const status = httpStatusOf(err);
  if (status === 404) {
    return new NotFoundError(object.bucket, object.key, { cause: err });
  }
  if (status === 412) {
    return new PreconditionFailedError(object.key, "the expected one", {
      cause: err,
    });
  }
  if (
    status === 408 || status === 429 || (status !== undefined && status >= 500)
  ) {
    return new TransientStorageError(
      `Cannot reach object "${object.key}" in bucket "${object.bucket}": GCS answered ${status}`,
      { cause: err, status },
    );
  }
  const code = networkCodeOf(err);
  if (code !== undefined && TRANSIENT_CODES.has(code)) {
    return new TransientStorageError(
      `Cannot reach object "${object.key}" in bucket "${object.bucket}": ${code}`,
      { cause: err },
    );
  }
  return err;
}

function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as {
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown };
  };
  for (const candidate of [e.code, e.status, e.response?.status]) {
    if (typeof candidate === "number" && candidate >= 100 && candidate < 600) {
      return candidate;
    }
  }
  return undefined;
}

/** The errno-style code of `err` or of any error in its cause chain. */
function networkCodeOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e !== "object") return undefined;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function toInfo(file: File): ObjectInfo {
  const m = file.metadata;
  return {
    key: file.name,
    size: Number(m.size ?? 0),
    generation: String(m.generation),
    contentType: m.contentType ?? DEFAULT_CONTENT_TYPE,
    metadata: Object.fromEntries(
      Object.entries(m.metadata ?? {}).flatMap(([k, v]) =>
        v === null || v === undefined ? [] : [[k, String(v)]]
      ),
    ),
    updated: new Date(m.updated ?? m.timeCreated ?? 0),
  };
}

/**
 * A web stream over a Node stream whose errors go through `mapError`
 * (`Readable.toWeb` would pass the library's errors through unmapped).
 * The first chunk is read before it resolves, so a failed request rejects
 * here and not mid-body, and the library's response pipeline exists before
 * the caller can cancel: destroying the read stream earlier makes Deno's
 * `pipeline` throw an uncaught error ("k is not a constructor").
 */
async function toWebStream(
  readable: Readable,
  mapError: (err: unknown) => unknown,
  options: { signal?: AbortSignal },
): Promise<ReadableStream<Uint8Array>> {
  const chunks = readable[Symbol.asyncIterator]();
  const onAbort = () => readable.destroy(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  function done(): void {
    options.signal?.removeEventListener("abort", onAbort);
  }
  function fail(err: unknown): unknown {
    done();
    return options.signal?.aborted ? options.signal.reason : mapError(err);
  }
  let first: IteratorResult<unknown>;
  try {
    first = await chunks.next();
  } catch (err) {
    throw fail(err);
  }
  let pending: IteratorResult<unknown> | undefined = first;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = pending ?? await chunks.next();
        pending = undefined;
        if (next.done) {
          done();
          controller.close();
        } else {
          const bytes = next.value as Uint8Array;
          controller.enqueue(
            new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          );
        }
      } catch (err) {
        controller.error(fail(err));
      }
    },
    async cancel() {
      done();
      await chunks.return?.();
    },
  });
}
