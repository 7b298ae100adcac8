/**
 * An {@linkcode ObjectStore} on a local directory, the default backend for
 * development and single-machine runs.
 *
 * Layout under `root`:
 * - `B/KEY`: the body of object `KEY` of bucket `B`, a plain file.
 * - `.meta/B/KEY.<inode>.json`: its content type, custom metadata and
 *   generation. The sidecar is named after the inode of the body it
 *   describes, so a reader that opened a body always finds that body's own
 *   metadata and never another version's, whatever a writer is doing.
 * - `.tmp/`: bodies and sidecars being written. A write goes to a temp file,
 *   is fsynced, its sidecar is put in place, and only then is the body
 *   renamed (or, for create-only writes, hard-linked) over `B/KEY`. A crash
 *   leaves at most a temp file or an orphan sidecar, neither of which is
 *   ever listed or read. Bucket names cannot start with a dot, so `.meta`
 *   and `.tmp` never collide with a bucket.
 *
 * Writers of one key are serialized inside the process, which makes
 * `ifGenerationMatch` race-free for a single process; the create-only case
 * (`ifGenerationMatch: 0`) uses `link(2)`, which is atomic across processes
 * too. Empty directories left by deletes are not pruned (pruning would race
 * with a concurrent writer's `mkdir`); listing skips them.
 *
 * @module
 */
import { pooledMap } from "@std/async";
import { type Clock, systemClock } from "../clock.ts";
import type { BlobSigner } from "./blob_signer.ts";
import {
  assertValidKey,
  assertValidPrefix,
  type ByteRange,
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

/** Options of {@linkcode FsStore}. */
export interface FsStoreOptions {
  /** The storage directory (`STORAGE_DIR`); created on first write. */
  root: string;
  /** The bucket, a directory under `root`. */
  bucket: string;
  /** Signs the URLs returned by `signedUrl`. */
  signer: BlobSigner;
  /** The service's public origin, e.g. `https://audio.example.com`. */
  publicBaseUrl: string | (() => string);
  /** Source of time for URL expiry and `updated`; the system clock by default. */
  clock?: Clock;
}

/** GCS bucket naming rules: 3-222 lowercase letters, digits, `-`, `_`, `.`. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
/** Read granularity of body streams; large enough to amortize syscalls. */
const READ_CHUNK_BYTES = 64 * 1024;
/** How many listed objects are stat'ed at once. */
const LIST_STAT_CONCURRENCY = 16;
/** How often a read re-opens a body whose sidecar a writer just replaced. */
const MAX_OPEN_ATTEMPTS = 5;
/** Format version of the sidecar files. */
const SIDECAR_VERSION = 1;

interface Sidecar {
  v: number;
  generation: string;
  contentType: string;
  metadata: Record<string, string>;
  updated: number;
}

/** Writes queue per target path, shared by every FsStore in the process. */
const keyLocks = new Map<string, Promise<void>>();
/** Generations are microseconds (like GCS), strictly increasing per process. */
let lastGeneration = 0;

function nextGeneration(nowMs: number): string {
  lastGeneration = Math.max(Math.floor(nowMs * 1000), lastGeneration + 1);
  return String(lastGeneration);
}

/**
 * Objects stored as files under `root/bucket`.
 *
 * @example
 * ```ts
 * const store = new FsStore({
 *   root: "./data/storage",
 *   bucket: "omi-private-cloud-sync",
 *   signer: new BlobSigner(secret),
 *   publicBaseUrl: "http://127.0.0.1:8080",
 * });
 * await store.put("chunks/u1/c1/1700000000.000.bin", bytes);
 * ```
 */
export class FsStore implements ObjectStore {
  /** The bucket this store reads and writes. */
  readonly bucket: string;
  #root: string;
  #bucketDir: string;
  #metaDir: string;
  #tmpDir: string;
  #signer: BlobSigner;
  #publicBaseUrl: string | (() => string);
  #clock: Clock;

  /** @param options where the files live and how URLs are signed */
  constructor(options: FsStoreOptions) {
    if (!BUCKET_NAME.test(options.bucket)) {
      throw new TypeError(
        `Cannot use bucket "${options.bucket}": not a valid bucket name`,
      );
    }
    this.bucket = options.bucket;
    this.#root = options.root.replace(/\/+$/, "") || "/";
    this.#bucketDir = `${this.#root}/${options.bucket}`;
    this.#metaDir = `${this.#root}/.meta/${options.bucket}`;
    this.#tmpDir = `${this.#root}/.tmp`;
    this.#signer = options.signer;
    this.#publicBaseUrl = options.publicBaseUrl;
    this.#clock = options.clock ?? systemClock;
  }

  /** All objects under `prefix`, sorted by key. */
  async list(prefix: string, options?: SignalOptions): Promise<ObjectInfo[]> {
    assertValidPrefix(prefix);
    options?.signal?.throwIfAborted();
    const dir = prefix.slice(0, prefix.lastIndexOf("/") + 1);
    const keys: string[] = [];
    await walk(this.#bucketDir, dir, (key) => {
      if (key.startsWith(prefix)) keys.push(key);
    });
    const infos: ObjectInfo[] = [];
    const stats = pooledMap(
      LIST_STAT_CONCURRENCY,
      keys,
      (key) => this.#listedInfo(key, options),
    );
    for await (const info of stats) {
      // A key deleted between the walk and the stat is simply not listed.
      if (info) infos.push(info);
    }
    return infos.sort(compareKeys);
  }

  /** The object's info, or `null` when it does not exist. */
  async head(key: string, options?: SignalOptions): Promise<ObjectInfo | null> {
    assertValidKey(key);
    options?.signal?.throwIfAborted();
    const opened = await this.#open(key);
    if (!opened) return null;
    opened.file.close();
    return opened.info;
  }

  /** The object's info and a stream of its body (or of `range`). */
  async get(
    key: string,
    options?: GetOptions,
  ): Promise<{ info: ObjectInfo; body: ReadableStream<Uint8Array> }> {
    assertValidKey(key);
    options?.signal?.throwIfAborted();
    const opened = await this.#open(key);
    if (!opened) throw new NotFoundError(this.bucket, key);
    const { file, info } = opened;
    try {
      const { start, length } = clampRange(key, info.size, options?.range);
      if (start > 0) await file.seek(start, Deno.SeekMode.Start);
      if (start + length === info.size && !options?.signal && length > 0) {
        // To the end of the file: Deno's own file stream, which Deno.serve
        // sends from the file without handing a buffer to JavaScript.
        return { info, body: file.readable };
      }
      return { info, body: fileStream(file, length, options?.signal) };
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /**
   * The object's body (or `range`) as bytes, read straight into one buffer
   * of the right size: a merge reads hundreds of chunks, and pieces plus a
   * copy per chunk would double the garbage it leaves behind.
   */
  async getBytes(key: string, options?: GetOptions): Promise<Uint8Array> {
    assertValidKey(key);
    options?.signal?.throwIfAborted();
    // Bytes only: the size comes from the open file, and the sidecar (the
    // metadata) is not read at all.
    let file: Deno.FsFile;
    try {
      file = await Deno.open(`${this.#bucketDir}/${key}`, { read: true });
    } catch (err) {
      if (isMissingPath(err)) throw new NotFoundError(this.bucket, key);
      throw err;
    }
    try {
      const stat = await file.stat();
      if (!stat.isFile) throw new NotFoundError(this.bucket, key);
      const { start, length } = clampRange(key, stat.size, options?.range);
      if (start > 0) await file.seek(start, Deno.SeekMode.Start);
      const bytes = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const n = await file.read(bytes.subarray(filled));
        if (n === null) {
          throw new Error(
            `Cannot read object body: the file ended ${
              length - filled
            } bytes early`,
          );
        }
        filled += n;
      }
      return bytes;
    } finally {
      file.close();
    }
  }

  /** Writes the object atomically and returns its new info. */
  async put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ObjectInfo> {
    assertValidKey(key);
    const expected = options.ifGenerationMatch === undefined
      ? undefined
      : String(options.ifGenerationMatch);
    const contentType = options.contentType ?? DEFAULT_CONTENT_TYPE;
    const metadata = { ...options.metadata };
    const target = `${this.#bucketDir}/${key}`;
    const durable = (options.durability ?? "durable") === "durable";

    await Deno.mkdir(this.#tmpDir, { recursive: true });
    const tmp = `${this.#tmpDir}/${crypto.randomUUID()}`;
    let ino: number;
    let size: number;
    try {
      ({ ino, size } = await writeTempFile(tmp, body, {
        signal: options.signal,
        flush: durable,
      }));
    } catch (err) {
      await removeIfExists(tmp);
      throw err;
    }

    try {
      return await withKeyLock(target, async () => {
        options.signal?.throwIfAborted();
        const current = await this.#statVersion(key);
        if (expected !== undefined && expected !== "0") {
          if (current?.generation !== expected) {
            throw new PreconditionFailedError(key, expected);
          }
        } else if (expected === "0" && current) {
          throw new PreconditionFailedError(key, expected);
        }
        const now = this.#clock.now();
        const sidecar: Sidecar = {
          v: SIDECAR_VERSION,
          generation: nextGeneration(now),
          contentType,
          metadata,
          updated: now,
        };
        const sidecarPath = this.#sidecarPath(key, ino);
        await this.#writeSidecar(sidecarPath, sidecar, durable);
        await Deno.mkdir(dirname(target), { recursive: true });
        try {
          if (expected === "0") {
            // link(2) fails when the target exists, even if another process
            // created it after the check above.
            await Deno.link(tmp, target);
          } else {
            await Deno.rename(tmp, target);
          }
        } catch (err) {
          await removeIfExists(sidecarPath);
          if (err instanceof Deno.errors.AlreadyExists) {
            throw new PreconditionFailedError(key, expected ?? "0", {
              cause: err,
            });
          }
          throw err;
        }
        // The rename is durable only once its directory is: a 201 must
        // survive a power cut.
        if (durable) await syncDirectory(dirname(target));
        if (current && current.ino !== ino) {
          await removeIfExists(this.#sidecarPath(key, current.ino));
        }
        return toInfo(key, size, sidecar);
      });
    } finally {
      await removeIfExists(tmp);
    }
  }

  /** Deletes the object; `false` when it did not exist. */
  async delete(key: string, options?: SignalOptions): Promise<boolean> {
    assertValidKey(key);
    options?.signal?.throwIfAborted();
    const target = `${this.#bucketDir}/${key}`;
    return await withKeyLock(target, async () => {
      const stat = await statFile(target);
      if (!stat) return false;
      try {
        await Deno.remove(target);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return false;
        throw err;
      }
      await removeIfExists(this.#sidecarPath(key, stat.ino));
      return true;
    });
  }

  /** Deletes every object under a non-empty `prefix`; returns the count. */
  async deletePrefix(prefix: string, options?: SignalOptions): Promise<number> {
    if (prefix === "") {
      throw new TypeError("Cannot delete by prefix: the prefix is empty");
    }
    const infos = await this.list(prefix, options);
    let deleted = 0;
    for (const info of infos) {
      if (await this.delete(info.key, options)) deleted++;
    }
    return deleted;
  }

  /** A URL for the service's `GET /v1/blobs/...` route, valid `ttlSeconds`. */
  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    assertValidKey(key);
    assertTtl(options.ttlSeconds);
    const expiresAtSeconds = Math.floor(this.#clock.now() / 1000) +
      Math.ceil(options.ttlSeconds);
    const base = typeof this.#publicBaseUrl === "function"
      ? this.#publicBaseUrl()
      : this.#publicBaseUrl;
    return await this.#signer.signUrl(base, {
      bucket: this.bucket,
      key,
      expiresAtSeconds,
    });
  }

  #sidecarPath(key: string, ino: number): string {
    return `${this.#metaDir}/${key}.${ino}.json`;
  }

  async #writeSidecar(
    path: string,
    sidecar: Sidecar,
    durable: boolean,
  ): Promise<void> {
    const tmp = `${this.#tmpDir}/${crypto.randomUUID()}.json`;
    try {
      await writeTempFile(
        tmp,
        new TextEncoder().encode(JSON.stringify(sidecar)),
        { flush: durable },
      );
      await Deno.mkdir(dirname(path), { recursive: true });
      await Deno.rename(tmp, path);
      if (durable) await syncDirectory(dirname(path));
    } finally {
      await removeIfExists(tmp);
    }
  }

  async #readSidecar(key: string, ino: number): Promise<Sidecar | null> {
    try {
      const text = await Deno.readTextFile(this.#sidecarPath(key, ino));
      return JSON.parse(text) as Sidecar;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  }

  /**
   * A listed object's info from a stat of its path and its sidecar: two
   * operations instead of an open, a stat, the sidecar and a close. A
   * version replaced in between (its sidecar gone) falls back to `head`.
   */
  async #listedInfo(
    key: string,
    options?: SignalOptions,
  ): Promise<ObjectInfo | null> {
    const stat = await statFile(`${this.#bucketDir}/${key}`);
    if (!stat) return null;
    const sidecar = await this.#readSidecar(key, stat.ino);
    if (sidecar) return toInfo(key, stat.size, sidecar);
    return await this.head(key, options);
  }

  /** The current version's inode and generation, for preconditions. */
  async #statVersion(
    key: string,
  ): Promise<{ ino: number; generation: string } | null> {
    const stat = await statFile(`${this.#bucketDir}/${key}`);
    if (!stat) return null;
    const sidecar = await this.#readSidecar(key, stat.ino);
    return {
      ino: stat.ino,
      generation: sidecar?.generation ?? fallbackSidecar(stat).generation,
    };
  }

  /**
   * Opens the body and reads the sidecar of exactly that body. A missing
   * sidecar means a writer replaced the body after we opened it (and removed
   * the old sidecar), so the newer version is opened instead; a body that
   * never had one (a file copied in by hand) gets default metadata.
   */
  async #open(
    key: string,
  ): Promise<{ file: Deno.FsFile; info: ObjectInfo } | null> {
    const path = `${this.#bucketDir}/${key}`;
    for (let attempt = 1;; attempt++) {
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path, { read: true });
      } catch (err) {
        if (isMissingPath(err)) return null;
        throw err;
      }
      try {
        const stat = await file.stat();
        if (!stat.isFile) {
          file.close();
          return null;
        }
        const ino = requireIno(stat);
        const sidecar = await this.#readSidecar(key, ino);
        if (sidecar || attempt >= MAX_OPEN_ATTEMPTS) {
          const found = sidecar ?? fallbackSidecar({ ino, mtime: stat.mtime });
          return { file, info: toInfo(key, stat.size, found) };
        }
      } catch (err) {
        file.close();
        throw err;
      }
      file.close();
    }
  }
}

function toInfo(key: string, size: number, sidecar: Sidecar): ObjectInfo {
  return {
    key,
    size,
    generation: sidecar.generation,
    contentType: sidecar.contentType,
    metadata: { ...sidecar.metadata },
    updated: new Date(sidecar.updated),
  };
}

function fallbackSidecar(
  stat: { ino: number; mtime: Date | null },
): Sidecar {
  const updated = stat.mtime?.getTime() ?? 0;
  return {
    v: SIDECAR_VERSION,
    generation: String(updated * 1000 + 1),
    contentType: DEFAULT_CONTENT_TYPE,
    metadata: {},
    updated,
  };
}

function compareKeys(a: ObjectInfo, b: ObjectInfo): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function assertTtl(ttlSeconds: number): void {
  if (!(Number.isFinite(ttlSeconds) && ttlSeconds > 0)) {
    throw new TypeError(
      `Cannot sign a URL for ${ttlSeconds} s: the lifetime must be positive`,
    );
  }
}

function clampRange(
  key: string,
  size: number,
  range: ByteRange | undefined,
): { start: number; length: number } {
  if (!range) return { start: 0, length: size };
  const end = Math.min(range.end, size - 1);
  if (range.start < 0 || range.start > end) {
    throw new RangeError(
      `Cannot read bytes ${range.start}-${range.end} of "${key}": it has ${size} bytes`,
    );
  }
  return { start: range.start, length: end - range.start + 1 };
}

function requireIno(stat: Deno.FileInfo): number {
  if (stat.ino === null) {
    throw new Error(
      "Cannot use FsStore here: the filesystem reports no inode numbers",
    );
  }
  return stat.ino;
}

async function statFile(
  path: string,
): Promise<{ ino: number; size: number; mtime: Date | null } | null> {
  try {
    const stat = await Deno.stat(path);
    if (!stat.isFile) return null;
    return { ino: requireIno(stat), size: stat.size, mtime: stat.mtime };
  } catch (err) {
    if (isMissingPath(err)) return null;
    throw err;
  }
}

/** ENOENT, or ENOTDIR when a key segment names an existing object. */
function isMissingPath(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound ||
    err instanceof Deno.errors.NotADirectory;
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

async function withKeyLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const previous = keyLocks.get(path) ?? Promise.resolve();
  const { promise: released, resolve: release } = Promise.withResolvers<
    void
  >();
  const tail = previous.then(() => released);
  keyLocks.set(path, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (keyLocks.get(path) === tail) keyLocks.delete(path);
  }
}

/** Flushes a directory's entries (a rename or link in it) to disk. */
async function syncDirectory(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** Writes `body` to a new file, fsyncs it, and returns its inode and size. */
async function writeTempFile(
  path: string,
  body: Uint8Array | ReadableStream<Uint8Array>,
  options: { signal?: AbortSignal; flush?: boolean } = {},
): Promise<{ ino: number; size: number }> {
  const { signal, flush = true } = options;
  signal?.throwIfAborted();
  using file = await Deno.open(path, { write: true, createNew: true });
  let size = 0;
  if (body instanceof Uint8Array) {
    await writeAll(file, body);
    size = body.byteLength;
  } else {
    const reader = body.getReader();
    // One write in flight while the next part is produced: the producer (a
    // merge) and the kernel's copy then overlap instead of taking turns.
    let writing: Promise<void> = Promise.resolve();
    try {
      while (true) {
        signal?.throwIfAborted();
        const { done, value } = await reader.read();
        await writing;
        if (done) break;
        writing = writeAll(file, value);
        size += value.byteLength;
      }
    } catch (err) {
      await writing.catch(() => {});
      await reader.cancel(err).catch(() => {});
      throw err;
    } finally {
      reader.releaseLock();
    }
  }
  if (flush) await file.sync();
  const ino = requireIno(await file.stat());
  return { ino, size };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    offset += await file.write(bytes.subarray(offset));
  }
}

/** A stream of `length` bytes from the file's position; closes the file. */
function fileStream(
  file: Deno.FsFile,
  length: number,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  let remaining = length;
  let open = true;
  function close(): void {
    if (open) {
      open = false;
      file.close();
    }
  }
  if (length === 0) {
    close();
    return new ReadableStream({ start: (c) => c.close() });
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        signal?.throwIfAborted();
        const buffer = new Uint8Array(Math.min(READ_CHUNK_BYTES, remaining));
        const n = await file.read(buffer);
        if (n === null) {
          throw new Error(
            `Cannot read object body: the file ended ${remaining} bytes early`,
          );
        }
        remaining -= n;
        controller.enqueue(buffer.subarray(0, n));
        if (remaining === 0) {
          close();
          controller.close();
        }
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    cancel() {
      close();
    },
  });
}

/** Calls `onKey` for every file under `base/dir`, with keys relative to `base`. */
async function walk(
  base: string,
  dir: string,
  onKey: (key: string) => void,
): Promise<void> {
  let entries: AsyncIterable<Deno.DirEntry>;
  try {
    entries = Deno.readDir(dir === "" ? base : `${base}/${dir}`);
    for await (const entry of entries) {
      const key = `${dir}${entry.name}`;
      if (entry.isDirectory) {
        await walk(base, `${key}/`, onKey);
      } else if (entry.isFile) {
        onKey(key);
      }
    }
  } catch (err) {
    if (isMissingPath(err)) return;
    throw err;
  }
}
