/**
 * Helpers shared by the merge and worker benchmarks: timing, medians,
 * resident-memory sampling, isolated child runs, Markdown tables, and the
 * generated 60-minute conversation they both read.
 *
 * Every number a benchmark prints is a ratio against a reference measured
 * in the same run, because the machine is shared and noisy: absolute
 * milliseconds move from run to run, ratios much less.
 *
 * @module
 */
import { delay, pooledMap } from "@std/async";
import { encodeChunk } from "../lib/audio/chunk_codec.ts";
import { decodeOpus } from "../lib/audio/opus_codec.ts";
import { BYTES_PER_SECOND } from "../lib/audio/wav.ts";
import { KeyRing } from "../lib/crypto/key_ring.ts";
import { PCM_BYTES_METADATA } from "../lib/merge/pcm_length.ts";
import { BlobSigner } from "../lib/storage/blob_signer.ts";
import { FsStore } from "../lib/storage/fs_store.ts";
import { chunkKey } from "../lib/storage/keys.ts";
import { DEFAULT_MAX_QUEUED } from "../lib/workers/groups.ts";
import { workerOpusEngine } from "../lib/workers/worker_opus.ts";
import { WorkerGroup } from "../lib/workers/worker_group.ts";
import { noisePcm, tonePcm } from "../tests/audio_fixtures.ts";

// ---------------------------------------------------------------- arguments

/** The numeric value of `--name=value` on the command line, or `fallback`. */
export function flag(name: string, fallback: number): number {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const value = Number(arg.slice(name.length + 3));
  if (!Number.isFinite(value)) {
    throw new TypeError(`Cannot parse --${name}: "${arg}" is not a number`);
  }
  return value;
}

/** The string value of `--name=value` on the command line, or undefined. */
export function textFlag(name: string): string | undefined {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return arg?.slice(name.length + 3);
}

// ------------------------------------------------------------------- timing

/** Milliseconds that `fn` took, on the monotonic clock. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Options of {@linkcode sampleRuns}. */
export interface RunOptions {
  /** Measured runs; at least 1. */
  runs: number;
  /** Discarded runs before them (JIT, page cache, worker start). Default 1. */
  warmup?: number;
}

/**
 * Times `fn` `runs` times after `warmup` discarded runs.
 *
 * @returns the measured durations in ms, in run order
 */
export async function sampleRuns(
  fn: () => unknown,
  options: RunOptions,
): Promise<number[]> {
  for (let i = 0; i < (options.warmup ?? 1); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < options.runs; i++) samples.push(await timeMs(fn));
  return samples;
}

/**
 * Times every measurement once per round, `warmup` discarded rounds then
 * `runs` measured ones. Interleaving puts a merge and its reference under
 * the same load, so that their ratio within a round is meaningful even when
 * the machine's speed drifts between rounds.
 *
 * @returns each measurement's durations in ms, one per measured round
 */
export async function sampleInterleaved<K extends string>(
  measurements: Record<K, () => unknown>,
  options: RunOptions,
): Promise<Record<K, number[]>> {
  const names = Object.keys(measurements) as K[];
  const samples = Object.fromEntries(
    names.map((name) => [name, [] as number[]]),
  ) as Record<K, number[]>;
  const warmup = options.warmup ?? 1;
  for (let round = 0; round < warmup + options.runs; round++) {
    for (const name of names) {
      const ms = await timeMs(measurements[name]);
      if (round >= warmup) samples[name].push(ms);
    }
  }
  return samples;
}

/** The median over rounds of `a[i] / b[i]`: a ratio taken under one load. */
export function medianRatio(
  a: readonly number[],
  b: readonly number[],
): number {
  return median(a.map((value, i) => value / b[i]));
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * The `p`th percentile of `values`, linearly interpolated between ranks.
 *
 * @param p from 0 to 100
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

// ------------------------------------------------------------------- memory

/** How often {@linkcode RssSampler} reads the resident set, in ms. */
export const RSS_SAMPLE_INTERVAL_MS = 5;

/** Samples `Deno.memoryUsage().rss` on a timer and keeps the peak. */
export class RssSampler {
  #timer: ReturnType<typeof setInterval> | undefined;
  #peak = 0;
  #samples = 0;

  /** Starts sampling every {@linkcode RSS_SAMPLE_INTERVAL_MS}. */
  start(): void {
    this.#peak = Deno.memoryUsage().rss;
    this.#samples = 1;
    this.#timer = setInterval(() => this.sample(), RSS_SAMPLE_INTERVAL_MS);
  }

  /**
   * Takes one sample now. Call it at points where memory may peak while the
   * event loop is busy (the timer cannot fire then).
   */
  sample(): void {
    const rss = Deno.memoryUsage().rss;
    if (rss > this.#peak) this.#peak = rss;
    this.#samples++;
  }

  /** Stops sampling; returns the peak in bytes and how many samples it saw. */
  stop(): { peak: number; samples: number } {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.sample();
    return { peak: this.#peak, samples: this.#samples };
  }
}

/**
 * The resident set of the process at rest: garbage collected when the
 * process runs with `--v8-flags=--expose-gc` (children of
 * {@linkcode runChild} do), then the median of a few samples.
 */
export async function idleRss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 2; i++) {
    gc?.();
    await delay(50);
  }
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(Deno.memoryUsage().rss);
    await delay(10);
  }
  return median(samples);
}

/**
 * Runs this benchmark script again in a fresh process with `args` and
 * returns the JSON object that the child printed on its last stdout line.
 * Memory is measured in a fresh process so that one scenario's heap
 * growth never becomes the next scenario's "idle".
 *
 * @param script the benchmark module (`import.meta.url`)
 * @param args the child's arguments
 */
export async function runChild<T>(script: string, args: string[]): Promise<T> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      new URL(script).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(
      `Cannot run benchmark child ${
        args.join(" ")
      }: exit code ${output.code}\n${text}`,
    );
  }
  return JSON.parse(text.split("\n").at(-1)!) as T;
}

/**
 * A benchmark child that talks in lines: it prints one line per step on
 * stdout and reads the parent's replies on stdin. The memory scenarios
 * that need a separate client process (so that the client's buffers are
 * not counted) drive their child through it.
 */
export class ChildSession implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #lines: ReadableStreamDefaultReader<string>;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #args: string[];

  /**
   * Starts this benchmark script again with `args`, in a fresh process
   * with `--expose-gc`, as {@linkcode runChild} does.
   *
   * @param script the benchmark module (`import.meta.url`)
   * @param args the child's arguments
   */
  constructor(script: string, args: string[]) {
    this.#args = args;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--v8-flags=--expose-gc",
        new URL(script).pathname,
        ...args,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.#child.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new LineSplitter())
      .getReader();
    this.#stdin = this.#child.stdin.getWriter();
  }

  /** The child's next line on stdout. */
  async next(): Promise<string> {
    const { value, done } = await this.#lines.read();
    if (done) {
      const status = await this.#child.status;
      throw new Error(
        `Cannot read from benchmark child ${
          this.#args.join(" ")
        }: it exited with code ${status.code}`,
      );
    }
    return value;
  }

  /** Sends one line to the child's stdin. */
  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${line}\n`));
  }

  /** Waits for the child to exit; throws when it failed. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stdin.close().catch(() => {});
    await this.#lines.cancel().catch(() => {});
    const status = await this.#child.status;
    if (!status.success) {
      throw new Error(
        `Benchmark child ${
          this.#args.join(" ")
        } failed: exit code ${status.code}`,
      );
    }
  }
}

/** The other end of a {@linkcode ChildSession}: the child's stdin as lines. */
export function parentLines(): ReadableStreamDefaultReader<string> {
  return Deno.stdin.readable
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitter())
    .getReader();
}

/** Splits text into lines, without their line ends. */
class LineSplitter extends TransformStream<string, string> {
  constructor() {
    let buffered = "";
    super({
      transform(text, controller) {
        const lines = (buffered + text).split("\n");
        buffered = lines.pop()!;
        for (const line of lines) controller.enqueue(line);
      },
      flush(controller) {
        if (buffered) controller.enqueue(buffered);
      },
    });
  }
}

// ------------------------------------------------------------------- output

/** A Markdown table of `rows` under `headers`. */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(headers),
    line(headers.map(() => "---")),
    ...rows.map(line),
  ].join("\n");
}

/** `1234.5` -> `"1235"`, `12.34` -> `"12.3"`. */
export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

/** Bytes as MB (10^6), one decimal. */
export function formatMb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** `a / b` as `"1.23x"`. */
export function formatRatio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}x`;
}

/** The median and the spread of runs: `"812 (790-850)"`. */
export function formatRuns(samples: readonly number[]): string {
  const low = Math.min(...samples);
  const high = Math.max(...samples);
  return `${formatMs(median(samples))} (${formatMs(low)}–${formatMs(high)})`;
}

/** One line about the machine, for the tables' captions. */
export function machineNote(): string {
  return `${navigator.hardwareConcurrency} cores, shared; Deno ${Deno.version.deno}, V8 ${Deno.version.v8}; ${Deno.build.os}/${Deno.build.arch}`;
}

// --------------------------------------------------------- worker group

/**
 * The service's `storage` worker group on its real entry module. Only the
 * storage group is built: these benchmarks never touch `sync`.
 *
 * @param size workers; the cores available by default, as in the service
 */
export function storageGroup(
  size = navigator.hardwareConcurrency,
): WorkerGroup {
  return new WorkerGroup({
    name: "storage",
    size,
    entry: new URL("../lib/workers/storage_entry.ts", import.meta.url),
    tasks: () =>
      import("../lib/workers/storage_tasks.ts").then((m) => m.storageTasks),
    maxQueued: DEFAULT_MAX_QUEUED,
  });
}

// ------------------------------------------------------- the conversation

/** The stored formats a conversation is generated in. */
export type Variant = "bin" | "opus" | "opus.enc";

/** Every variant, in the order the tables list them. */
export const VARIANTS: readonly Variant[] = ["bin", "opus", "opus.enc"];

/** 60 minutes of 5-second chunks, the size named in issue 4. */
export const CHUNK_COUNT = 720;
/** Seconds per chunk: the app uploads 5-second chunks. */
export const CHUNK_SECONDS = 5;
/** PCM bytes of one chunk (16 kHz mono PCM16). */
export const CHUNK_PCM_BYTES = CHUNK_SECONDS * BYTES_PER_SECOND;
/** First chunk timestamp (2023-11-14), any plausible epoch second works. */
const FIRST_TIMESTAMP = 1_700_000_000;
/** The owner of the generated conversation. */
export const BENCH_UID = "bench-user";
/** `ENCRYPTION_SECRET` of the benchmarks (at least 32 bytes). */
export const BENCH_SECRET = "benchmark-encryption-secret-0123456789abcdef";
/** Bumped whenever the generated data changes, so stale caches regenerate. */
const DATA_VERSION = 1;
/** Where the generated data is cached between runs (gitignored). */
const DATA_DIR = new URL("../.tmp/bench-data/conversation-v1/", import.meta.url)
  .pathname;
/** The breath-noise floor: PCM16 noise shifted right by 5 bits (-36 dBFS). */
const NOISE_SHIFT = 5;

/** The generated conversation, stored once in every variant. */
export interface BenchConversation {
  /** The store holding `chunks/{uid}/{cid}/...` of every variant. */
  store: FsStore;
  /** The store's directory. */
  root: string;
  /** Keys of the generated secret. */
  keys: KeyRing;
  uid: string;
  /** The conversation id of each variant. */
  cids: Record<Variant, string>;
  /** The chunk timestamps, ascending. */
  timestamps: number[];
  /** The object key of each chunk, per variant, in timestamp order. */
  objectKeys: Record<Variant, string[]>;
  /** Stored bytes per variant. */
  storedBytes: Record<Variant, number>;
  /** PCM bytes of the whole conversation (the merged WAV minus its header). */
  pcmBytes: number;
  /** Seconds spent generating, or 0 when the cache was reused. */
  generatedSeconds: number;
}

interface Manifest {
  version: number;
  chunks: number;
  storedBytes: Record<Variant, number>;
}

/**
 * The 60-minute conversation in `.bin`, `.opus` and `.opus.enc`, generated
 * on first use (Opus encoding runs on the storage worker group, about 20 s
 * on 2 cores) and reused afterwards from `.tmp/bench-data/`.
 */
export async function benchConversation(): Promise<BenchConversation> {
  const keys = new KeyRing(BENCH_SECRET);
  const store = new FsStore({
    root: DATA_DIR,
    bucket: "bench-audio",
    signer: new BlobSigner(BENCH_SECRET),
    publicBaseUrl: "http://127.0.0.1",
  });
  const timestamps = Array.from(
    { length: CHUNK_COUNT },
    (_, i) => FIRST_TIMESTAMP + i * CHUNK_SECONDS,
  );
  const cids: Record<Variant, string> = {
    "bin": "conv-bin",
    "opus": "conv-opus",
    "opus.enc": "conv-opus-enc",
  };
  const objectKeys = Object.fromEntries(
    VARIANTS.map((v) => [
      v,
      timestamps.map((ts) => chunkKey(BENCH_UID, cids[v], ts, v)),
    ]),
  ) as Record<Variant, string[]>;

  let manifest = await readManifest();
  let generatedSeconds = 0;
  if (manifest === null) {
    const start = performance.now();
    await Deno.remove(DATA_DIR, { recursive: true }).catch(() => {});
    manifest = await generate(store, keys, timestamps, objectKeys);
    await Deno.writeTextFile(
      `${DATA_DIR}manifest.json`,
      JSON.stringify(manifest),
    );
    generatedSeconds = (performance.now() - start) / 1000;
  }
  return {
    store,
    root: DATA_DIR,
    keys,
    uid: BENCH_UID,
    cids,
    timestamps,
    objectKeys,
    storedBytes: manifest.storedBytes,
    pcmBytes: CHUNK_COUNT * CHUNK_PCM_BYTES,
    generatedSeconds,
  };
}

async function readManifest(): Promise<Manifest | null> {
  try {
    const manifest = JSON.parse(
      await Deno.readTextFile(`${DATA_DIR}manifest.json`),
    ) as Manifest;
    return manifest.version === DATA_VERSION &&
        manifest.chunks === CHUNK_COUNT
      ? manifest
      : null;
  } catch {
    return null;
  }
}

/**
 * Speech-like PCM for chunk `index`: the fixtures' harmonic tone under a
 * 3 Hz envelope, its pitch moving from chunk to chunk over a male-to-female
 * voice range, plus a faint noise floor so that Opus packets have realistic
 * sizes (a pure tone compresses far better than speech).
 */
export function speechPcm(index: number): Uint8Array {
  const pitch = 100 + (index * 53) % 200;
  const pcm = tonePcm(CHUNK_SECONDS, pitch);
  const noise = noisePcm(pcm.length, index + 1);
  const out = new DataView(pcm.buffer);
  const hiss = new DataView(noise.buffer);
  for (let at = 0; at < pcm.length; at += 2) {
    const sample = out.getInt16(at, true) +
      (hiss.getInt16(at, true) >> NOISE_SHIFT);
    out.setInt16(at, Math.max(-32768, Math.min(32767, sample)), true);
  }
  return pcm;
}

async function generate(
  store: FsStore,
  keys: KeyRing,
  timestamps: number[],
  objectKeys: Record<Variant, string[]>,
): Promise<Manifest> {
  console.error(
    `Generating the ${CHUNK_COUNT}-chunk conversation under ${DATA_DIR} (once; cached afterwards)...`,
  );
  const group = storageGroup();
  const engine = workerOpusEngine(group);
  const { gcm } = await keys.keysFor(BENCH_UID);
  const storedBytes: Record<Variant, number> = {
    "bin": 0,
    "opus": 0,
    "opus.enc": 0,
  };
  try {
    const writes = pooledMap(
      2 * group.size,
      timestamps.map((_, index) => index),
      async (index) => {
        const pcm = speechPcm(index);
        // The worker engine takes the PCM's buffer (transfer): note its length.
        const pcmBytes = pcm.length;
        const metadata = { [PCM_BYTES_METADATA]: String(pcmBytes) };
        // The original wrote `.bin` as a plain put: its size is its length.
        await store.put(objectKeys.bin[index], pcm);
        const opus = await encodeChunk(pcm, {
          protection: "standard",
          engine,
        });
        await store.put(objectKeys.opus[index], opus.bytes, { metadata });
        // Same packets, encrypted: hand encodeChunk the container just made.
        const sealed = await encodeChunk(pcm, {
          protection: "enhanced",
          key: gcm,
          engine: { encode: () => opus.bytes, decode: decodeOpus },
        });
        await store.put(objectKeys["opus.enc"][index], sealed.bytes, {
          metadata,
        });
        storedBytes.bin += pcmBytes;
        storedBytes.opus += opus.bytes.length;
        storedBytes["opus.enc"] += sealed.bytes.length;
      },
    );
    for await (const _ of writes) { /* drain */ }
  } finally {
    await group.close();
  }
  return { version: DATA_VERSION, chunks: timestamps.length, storedBytes };
}
