/**
 * An in-memory {@linkcode ObjectStore} for tests of the code above the store,
 * with a log of calls, fault injection and a gate that holds reads open.
 *
 * @module
 */
import type { BlobSigner } from "./blob_signer.ts";
import {
  assertValidKey,
  assertValidPrefix,
  collectBytes,
  DEFAULT_CONTENT_TYPE,
  type GetOptions,
  NotFoundError,
  type ObjectInfo,
  type ObjectStore,
  PreconditionFailedError,
  type PutOptions,
  type SignalOptions,
  type SignedUrlOptions,
} from "./object_store.ts";

/** The operations a {@linkcode MemoryStore} logs in `calls`. */
export type StoreOperation =
  | "list"
  | "head"
  | "get"
  | "getBytes"
  | "put"
  | "delete"
  | "deletePrefix"
  | "signedUrl";

/** One logged call: the operation and its key (the prefix for listings). */
export interface StoreCall {
  /** Which method was called. */
  op: StoreOperation;
  /** The key, or the prefix for `list` and `deletePrefix`. */
  key: string;
}

/** Picks the calls a fault applies to: a key, or a predicate over the call. */
export type CallMatcher = string | ((call: StoreCall) => boolean);

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Bucket name; `"memory"` by default. */
  bucket?: string;
  /**
   * With `publicBaseUrl`, makes `signedUrl` return the same blob-route URLs
   * as the filesystem store; otherwise they are `memory://bucket/key?...`.
   */
  signer?: BlobSigner;
  /** The origin of signed URLs made with `signer`. */
  publicBaseUrl?: string;
  /** Milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
}

interface Stored {
  bytes: Uint8Array;
  info: ObjectInfo;
}

/**
 * Objects in a `Map`, copied on the way in and out.
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * store.failNext("chunks/u/c/1.000.bin", new TransientStorageError("boom", { cause: null }));
 * await store.getBytes("chunks/u/c/1.000.bin"); // rejects with the injected error
 * store.calls.filter((c) => c.op === "getBytes").length; // 1
 * ```
 */
export class MemoryStore implements ObjectStore {
  /** The bucket name reported by this store. */
  readonly bucket: string;
  /** Every call made, in order, including the ones that failed. */
  readonly calls: StoreCall[] = [];
  /**
   * Awaited by `get` and `getBytes` after logging and before reading, so a
   * test can hold reads open (e.g. with `Promise.withResolvers`).
   */
  onGet?: (key: string) => Promise<void>;
  #objects = new Map<string, Stored>();
  #faults: { match: CallMatcher; error: Error }[] = [];
  #generation = 0;
  #signer?: BlobSigner;
  #publicBaseUrl?: string;
  #now: () => number;

  /** @param options bucket name, URL signing and clock */
  constructor(options: MemoryStoreOptions = {}) {
    this.bucket = options.bucket ?? "memory";
    this.#signer = options.signer;
    this.#publicBaseUrl = options.publicBaseUrl;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Makes the next call that `match` selects throw `error` (once). Faults
   * queue up: each call consumes the first fault that matches it.
   *
   * @param match a key (or prefix, for listings) or a predicate over the call
   */
  failNext(match: CallMatcher, error: Error): void {
    this.#faults.push({ match, error });
  }

  /** How many logged calls had operation `op` (and `key`, when given). */
  count(op: StoreOperation, key?: string): number {
    return this.calls.filter((c) =>
      c.op === op && (key === undefined || c.key === key)
    ).length;
  }

  /** All objects under `prefix`, sorted by key. */
  list(prefix: string, options?: SignalOptions): Promise<ObjectInfo[]> {
    return this.#run("list", prefix, options, () => {
      assertValidPrefix(prefix);
      return [...this.#objects.values()]
        .filter((o) => o.info.key.startsWith(prefix))
        .map((o) => copyInfo(o.info))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    });
  }

  /** The object's info, or `null` when it does not exist. */
  head(key: string, options?: SignalOptions): Promise<ObjectInfo | null> {
    return this.#run("head", key, options, () => {
      assertValidKey(key);
      const stored = this.#objects.get(key);
      return stored ? copyInfo(stored.info) : null;
    });
  }

  /** The object's info and a stream of its body (or of `range`). */
  get(
    key: string,
    options?: GetOptions,
  ): Promise<{ info: ObjectInfo; body: ReadableStream<Uint8Array> }> {
    return this.#run("get", key, options, async () => {
      assertValidKey(key);
      await this.onGet?.(key);
      options?.signal?.throwIfAborted();
      const { info, bytes } = this.#read(key, options);
      return {
        info,
        body: new ReadableStream<Uint8Array>({
          start(controller) {
            if (bytes.byteLength > 0) controller.enqueue(bytes);
            controller.close();
          },
        }),
      };
    });
  }

  /** The object's body (or `range`) as bytes. */
  getBytes(key: string, options?: GetOptions): Promise<Uint8Array> {
    return this.#run("getBytes", key, options, async () => {
      assertValidKey(key);
      await this.onGet?.(key);
      options?.signal?.throwIfAborted();
      return this.#read(key, options).bytes;
    });
  }

  /** Stores a copy of `body` and returns its new info. */
  put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ObjectInfo> {
    return this.#run("put", key, options, async () => {
      assertValidKey(key);
      const bytes = body instanceof Uint8Array
        ? body.slice()
        : await collectBytes(body);
      options.signal?.throwIfAborted();
      // Checked after the body arrived, as GCS does at finalization.
      if (options.ifGenerationMatch !== undefined) {
        const expected = String(options.ifGenerationMatch);
        const current = this.#objects.get(key)?.info.generation ?? "0";
        if (current !== expected) {
          throw new PreconditionFailedError(key, expected);
        }
      }
      const info: ObjectInfo = {
        key,
        size: bytes.byteLength,
        generation: String(++this.#generation),
        contentType: options.contentType ?? DEFAULT_CONTENT_TYPE,
        metadata: { ...options.metadata },
        updated: new Date(this.#now()),
      };
      this.#objects.set(key, { bytes, info });
      return copyInfo(info);
    });
  }

  /** Deletes the object; `false` when it did not exist. */
  delete(key: string, options?: SignalOptions): Promise<boolean> {
    return this.#run("delete", key, options, () => {
      assertValidKey(key);
      return this.#objects.delete(key);
    });
  }

  /** Deletes every object under a non-empty `prefix`; returns the count. */
  deletePrefix(prefix: string, options?: SignalOptions): Promise<number> {
    return this.#run("deletePrefix", prefix, options, () => {
      if (prefix === "") {
        throw new TypeError("Cannot delete by prefix: the prefix is empty");
      }
      assertValidPrefix(prefix);
      let deleted = 0;
      for (const key of [...this.#objects.keys()]) {
        if (key.startsWith(prefix) && this.#objects.delete(key)) deleted++;
      }
      return deleted;
    });
  }

  /** A signed blob-route URL (with a signer) or a `memory://` URL. */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    return this.#run("signedUrl", key, undefined, async () => {
      assertValidKey(key);
      if (!(Number.isFinite(options.ttlSeconds) && options.ttlSeconds > 0)) {
        throw new TypeError(
          `Cannot sign a URL for ${options.ttlSeconds} s: the lifetime must be positive`,
        );
      }
      const expiresAtSeconds = Math.floor(this.#now() / 1000) +
        Math.ceil(options.ttlSeconds);
      if (this.#signer && this.#publicBaseUrl !== undefined) {
        return await this.#signer.signUrl(this.#publicBaseUrl, {
          bucket: this.bucket,
          key,
          expiresAtSeconds,
        });
      }
      return `memory://${this.bucket}/${key}?expires=${expiresAtSeconds}`;
    });
  }

  #read(
    key: string,
    options: GetOptions | undefined,
  ): { info: ObjectInfo; bytes: Uint8Array } {
    const stored = this.#objects.get(key);
    if (!stored) throw new NotFoundError(this.bucket, key);
    const { bytes, info } = stored;
    const range = options?.range;
    if (!range) return { info: copyInfo(info), bytes: bytes.slice() };
    const end = Math.min(range.end, bytes.byteLength - 1);
    if (range.start < 0 || range.start > end) {
      throw new RangeError(
        `Cannot read bytes ${range.start}-${range.end} of "${key}": it has ${bytes.byteLength} bytes`,
      );
    }
    return { info: copyInfo(info), bytes: bytes.slice(range.start, end + 1) };
  }

  /** Logs the call, throws an injected fault if one matches, then runs `fn`. */
  async #run<T>(
    op: StoreOperation,
    key: string,
    options: SignalOptions | undefined,
    fn: () => T | Promise<T>,
  ): Promise<T> {
    const call: StoreCall = { op, key };
    this.calls.push(call);
    options?.signal?.throwIfAborted();
    const index = this.#faults.findIndex(({ match }) =>
      typeof match === "string" ? match === key : match(call)
    );
    if (index >= 0) {
      const [fault] = this.#faults.splice(index, 1);
      throw fault.error;
    }
    return await fn();
  }
}

function copyInfo(info: ObjectInfo): ObjectInfo {
  return {
    ...info,
    metadata: { ...info.metadata },
    updated: new Date(info.updated),
  };
}
