/**
 * Merged-audio download (issue 4): merges a generated 60-minute
 * conversation (720 five-second chunks) from the `fs` store in `.bin`,
 * `.opus` and `.opus.enc`, beside the physical references measured in the
 * same run, the resident memory of a merge and of streaming its result to
 * a slow reader, and the fetch counts of concurrent merges.
 *
 *     deno run -A bench/merge_bench.ts [--runs=3] [--only=time,memory,http,counts]
 *
 * `--only` runs some sections: `memory` includes the HTTP rows, `http`
 * alone runs only those.
 *
 * - Time: each round runs every reference and every merge once (one
 *   warm-up round is discarded); ratios are the median over rounds of the
 *   merge divided by the reference of the same round. References: reading
 *   the same 720 objects with `FsStore.getBytes` and no merge logic (one at
 *   a time, and {@linkcode MERGE_WINDOW} at once), writing a WAV of the
 *   merged size through `FsStore.put` the way every merge writes its cache
 *   (`durability: "cache"`, no fsync; for `.bin` also the durable write with
 *   fsync, for comparison), and for Opus the single-core `decodeOpus` of the
 *   same packets with no I/O. "Unbounded" is the original's shape: every fetch
 *   at once, the whole file in memory, then one put.
 * - Memory: each scenario runs in a fresh child process (with `--expose-gc`)
 *   so that one scenario's heap growth is not the next one's idle; peak RSS
 *   is sampled every few ms and reported above the idle RSS measured just
 *   before, after a short warm-up merge. The "HTTP" rows measure what a
 *   user of the service gets: the child builds the app with the service's
 *   wiring (`createDeps`, the `fs` store over the generated data, an
 *   in-memory KV), serves it with `Deno.serve` on 127.0.0.1, and this
 *   process, as a separate client, downloads `GET /v1/sync/audio/{cid}/{fid}`
 *   and reads the body slowly; the child samples its own RSS from idle
 *   through the merge and the whole response. Besides the cache miss, one
 *   run collects garbage every 5 ms (what is live, not what V8 has yet to
 *   collect) and one serves a WAV merged beforehand by this process (the
 *   response alone).
 * - Counts: 6 merges of 6 conversations (the same objects under 6 user ids)
 *   at once, counting fetch+decode jobs in flight per merge and per process
 *   exactly at every start and end, and sampling the `storage.chunk`
 *   limiter.
 *
 * The generated data is cached under `.tmp/bench-data/`; merge outputs are
 * deleted when the script ends.
 *
 * @module
 */
import { delay, pooledMap } from "@std/async";
import { decodeOpus } from "../lib/audio/opus_codec.ts";
import { WAV_HEADER_BYTES, wavHeader } from "../lib/audio/wav.ts";
import {
  createDefaultLimiters,
  type LimiterRegistry,
} from "../lib/concurrency/limiter_registry.ts";
import { decryptFrames } from "../lib/crypto/encrypted_frames.ts";
import { chunkDecoder } from "../lib/merge/chunk_decoder.ts";
import {
  type ChunkDecoder,
  MERGE_WINDOW,
  mergeAudioFile,
  type MergeDeps,
  type MergeResult,
} from "../lib/merge/merge_audio_file.ts";
import { systemClock } from "../lib/clock.ts";
import { inlineOpus } from "../lib/audio/chunk_codec.ts";
import { createApp } from "../lib/app.ts";
import { createAuthVerifier } from "../lib/auth.ts";
import type { AudioFile, ConversationRepo } from "../lib/db/conversations.ts";
import { createDeps } from "../lib/deps.ts";
import { buildAudioFiles } from "../lib/ingest/build_audio_files.ts";
import { BlobSigner } from "../lib/storage/blob_signer.ts";
import { chunkPrefix, mergedKey } from "../lib/storage/keys.ts";
import type {
  GetOptions,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  SignalOptions,
  SignedUrlOptions,
} from "../lib/storage/object_store.ts";
import { workerOpusEngine } from "../lib/workers/worker_opus.ts";
import type { WorkerGroup } from "../lib/workers/worker_group.ts";
import { TEST_JWT_SECRET, testConfig, tokenFor } from "../tests/test_utils.ts";
import {
  BENCH_SECRET,
  BENCH_UID,
  type BenchConversation,
  benchConversation,
  ChildSession,
  CHUNK_COUNT,
  CHUNK_PCM_BYTES,
  CHUNK_SECONDS,
  flag,
  formatMb,
  formatMs,
  formatRuns,
  idleRss,
  machineNote,
  markdownTable,
  median,
  medianRatio,
  parentLines,
  RSS_SAMPLE_INTERVAL_MS,
  RssSampler,
  runChild,
  sampleInterleaved,
  storageGroup,
  textFlag,
  timeMs,
  type Variant,
  VARIANTS,
} from "./_util.ts";
import { wrapStore } from "../tests/wrap_store.ts";

/** Where Opus runs during a merge. */
type Engine = "inline" | "workers";
/** The bounded merge of this service, or the original's all-at-once one. */
type Strategy = "bounded" | "unbounded";

/** Concurrent merges of the count check: more than 32 / 8 = 4 saturate it. */
const CONCURRENT_MERGES = 6;
/** The process-wide cap the counts are checked against (issue 4). */
const PROCESS_FETCH_CAP = 32;
/** The memory target of issue 4, above the idle process. */
const MEMORY_TARGET_BYTES = 64e6;
/** The time target of issue 4: `.bin` merge / raw read. */
const BIN_TIME_TARGET = 1.5;
/**
 * The slow reader pauses this long after each 64 KiB read: about 50 MB/s,
 * some 20 times slower than the store reads the cache file, so a stream
 * without backpressure would pile the file up in memory.
 */
const SLOW_READ_PAUSE_MS = 1;
/** Piece size when the unbounded variant streams its in-memory WAV. */
const STREAM_PIECE_BYTES = 64 * 1024;
/**
 * The second serve run collects garbage every 16 reads (1 MiB): what stays
 * is the live memory of the stream, without the dead read buffers that V8
 * only collects once about 64 MB of them have piled up.
 */
const GC_EVERY_READS = 16;
/** Chunks of the short merges that warm a process up before measuring. */
const WARMUP_CHUNKS = 12;
/** The write reference: the cache write every merge does. */
const WRITE_CACHE = 'write the WAV (put, "cache": no fsync)';
/** The durable write the merge did before (for `.bin` only, for comparison). */
const WRITE_DURABLE = "write the WAV, durable (put + fsync)";
/** The audio file id of the HTTP child's warm-up download. */
const WARMUP_FID = "warmup";
/** The audio file id whose WAV the parent merges for the cache-hit run. */
const CACHED_FID = "cached";

/** One HTTP download scenario: the real route, a separate client. */
interface HttpScenario {
  variant: Variant;
  engine: Engine;
  /** `cached`: the WAV is merged before idle is measured (a cache hit). */
  cache: "miss" | "cached";
  /** Collect garbage this often (0: never), to show the live memory. */
  gcMs: number;
}

/**
 * A diagnostic HTTP run collects garbage this often: what stays is live
 * memory, without the dead buffers V8 lets pile up.
 */
const DIAGNOSTIC_GC_MS = 5;

const HTTP_SCENARIOS: readonly HttpScenario[] = [
  { variant: "bin", engine: "inline", cache: "miss", gcMs: 0 },
  { variant: "bin", engine: "inline", cache: "miss", gcMs: DIAGNOSTIC_GC_MS },
  { variant: "bin", engine: "inline", cache: "cached", gcMs: 0 },
  { variant: "opus", engine: "workers", cache: "miss", gcMs: 0 },
];

/** What the HTTP child tells the client once it listens. */
interface HttpReady {
  port: number;
  cid: string;
  fid: string;
  bytes: number;
  warmBytes: number;
}

/** What a memory child reports. */
interface MemoryResult {
  idle: number;
  mergePeak: number;
  mergeMs: number;
  streamPeak?: number;
  streamMs?: number;
  streamIdle?: number;
}

/** One memory scenario. */
interface MemoryScenario {
  variant: Variant;
  engine: Engine;
  strategy: Strategy;
  stream: "stream" | "merge-only";
}

const MEMORY_SCENARIOS: readonly MemoryScenario[] = [
  { variant: "bin", engine: "inline", strategy: "bounded", stream: "stream" },
  {
    variant: "bin",
    engine: "inline",
    strategy: "unbounded",
    stream: "stream",
  },
  {
    variant: "opus",
    engine: "inline",
    strategy: "bounded",
    stream: "merge-only",
  },
  {
    variant: "opus",
    engine: "workers",
    strategy: "bounded",
    stream: "merge-only",
  },
  {
    variant: "opus",
    engine: "inline",
    strategy: "unbounded",
    stream: "merge-only",
  },
  {
    variant: "opus.enc",
    engine: "inline",
    strategy: "bounded",
    stream: "merge-only",
  },
  {
    variant: "opus.enc",
    engine: "workers",
    strategy: "bounded",
    stream: "merge-only",
  },
  {
    variant: "opus.enc",
    engine: "inline",
    strategy: "unbounded",
    stream: "merge-only",
  },
];

async function main(): Promise<void> {
  const runs = flag("runs", 3);
  const sections = new Set(
    (textFlag("only") ?? "time,memory,counts").split(","),
  );
  const started = performance.now();
  const conv = await benchConversation();
  if (conv.generatedSeconds > 0) {
    console.error(
      `Generated the data in ${conv.generatedSeconds.toFixed(0)} s`,
    );
  }
  await removeOutputs(conv);
  const group = storageGroup();
  const out: string[] = [];
  try {
    out.push(
      `Merged-audio download: ${CHUNK_COUNT} chunks (60 min), ${
        formatMb(WAV_HEADER_BYTES + conv.pcmBytes)
      } MB WAV; ${machineNote()}; ${runs} rounds after a warm-up on ${WARMUP_CHUNKS} chunks.`,
      "",
    );
    if (sections.has("time")) {
      console.error("Timing merges against their references...");
      out.push(await timeSection(conv, group, runs), "");
    }
    if (sections.has("memory") || sections.has("http")) {
      console.error("Measuring memory in child processes...");
      const rows = sections.has("memory") ? "all" : "http";
      out.push(await memorySection(conv, rows), "");
    }
    if (sections.has("counts")) {
      console.error("Counting fetches of concurrent merges...");
      out.push(await countSection(conv, group), "");
    }
  } finally {
    await group.close();
    await removeOutputs(conv);
  }
  out.push(
    `Total bench time ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  );
  console.log(out.join("\n"));
}

/**
 * Deletes every merge output and the directories the fs store leaves
 * behind (it never prunes them), keeping only the generated chunks.
 */
async function removeOutputs(conv: BenchConversation): Promise<void> {
  await conv.store.deletePrefix("merged/");
  await conv.store.deletePrefix("bench/");
  for (const dir of ["merged", "bench"]) {
    for (const parent of [conv.store.bucket, `.meta/${conv.store.bucket}`]) {
      await Deno.remove(`${conv.root}${parent}/${dir}`, { recursive: true })
        .catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
    }
  }
}

// --------------------------------------------------------------------- time

async function timeSection(
  conv: BenchConversation,
  group: WorkerGroup,
  runs: number,
): Promise<string> {
  const rows: string[][] = [];
  const ratioRows: string[][] = [];
  for (const variant of VARIANTS) {
    console.error(`  .${variant}`);
    const keys = conv.objectKeys[variant];
    const objects = variant === "bin" ? [] : await loadObjects(conv, variant);
    const measurements: Record<string, () => unknown> = {
      "read, 1 at a time": () => readAll(conv.store, keys, 1),
      [`read, ${MERGE_WINDOW} at once`]: () =>
        readAll(conv.store, keys, MERGE_WINDOW),
      [WRITE_CACHE]: () => writeReference(conv, "cache"),
    };
    if (variant === "bin") {
      measurements[WRITE_DURABLE] = () => writeReference(conv, "durable");
    }
    if (variant !== "bin") {
      measurements[
        variant === "opus"
          ? "decodeOpus, 1 core, no I/O"
          : "decrypt + decodeOpus, 1 core, no I/O"
      ] = () => decodeAll(conv, variant, objects);
    }
    measurements["unbounded (original)"] = () =>
      unboundedMerge(conv, { variant, decode: chunkDecoder(conv.keys) });
    measurements["merge, inline decode"] = () =>
      boundedMerge(conv, { variant, engine: "inline" });
    // The same merge with a sink that drops the WAV: what the merge logic
    // (plan, window, permits, decode, gap filling) costs over its reads.
    measurements[MERGE_TO_SINK] = () =>
      boundedMerge(conv, {
        variant,
        engine: "inline",
        store: discardingStore(conv.store),
        keep: "keep",
      });
    if (variant !== "bin") {
      measurements["merge, storage group"] = () =>
        boundedMerge(conv, { variant, engine: "workers", group });
    }
    // One short warm-up instead of a whole discarded round: the CPU-bound
    // rounds take seconds, and what needs warming (page cache, JIT, libopus,
    // worker start) warms as well on a few chunks.
    await warmUp(conv, variant, group);
    const samples = await sampleInterleaved(measurements, {
      runs,
      warmup: 0,
    });
    for (const [name, values] of Object.entries(samples)) {
      rows.push([`.${variant}`, name, formatRuns(values)]);
    }
    const read = samples[`read, ${MERGE_WINDOW} at once`];
    const write = samples[WRITE_CACHE];
    const readWrite = read.map((value, i) => value + write[i]);
    const decode = Object.entries(samples).find(([name]) =>
      name.includes("decodeOpus")
    )?.[1];
    const unbounded = samples["unbounded (original)"];
    for (
      const name of [
        "merge, inline decode",
        MERGE_TO_SINK,
        "merge, storage group",
      ]
    ) {
      const merge = samples[name];
      if (!merge) continue;
      const vsRead = medianRatio(merge, read);
      ratioRows.push([
        `.${variant}`,
        name,
        formatMs(median(merge)),
        variant === "bin"
          ? `**${vsRead.toFixed(2)}x** (target ≤ ${BIN_TIME_TARGET}x: ${
            vsRead <= BIN_TIME_TARGET ? "met" : "missed"
          })`
          : `${vsRead.toFixed(2)}x`,
        `${medianRatio(merge, readWrite).toFixed(2)}x`,
        decode ? `${medianRatio(merge, decode).toFixed(2)}x` : "–",
        `${medianRatio(merge, unbounded).toFixed(2)}x`,
      ]);
    }
  }
  return [
    "Time, ms: median of the rounds (min–max).",
    "",
    markdownTable(["variant", "measurement", "ms"], rows),
    "",
    "Merge time ÷ reference (median of per-round ratios).",
    "",
    markdownTable([
      "variant",
      "merge",
      "median ms",
      `÷ read, ${MERGE_WINDOW} at once`,
      "÷ (read + write WAV)",
      "÷ decode, 1 core",
      "÷ unbounded",
    ], ratioRows),
  ].join("\n");
}

/** Every path of the timed round, on a few chunks (the reads on all). */
async function warmUp(
  conv: BenchConversation,
  variant: Variant,
  group: WorkerGroup,
): Promise<void> {
  await readAll(conv.store, conv.objectKeys[variant], MERGE_WINDOW);
  await writeReference(conv, "cache");
  if (variant === "bin") await writeReference(conv, "durable");
  const timestamps = conv.timestamps.slice(0, WARMUP_CHUNKS);
  await boundedMerge(conv, { variant, engine: "inline", timestamps });
  if (variant !== "bin") {
    await boundedMerge(conv, { variant, engine: "workers", group, timestamps });
  }
  await unboundedMerge(conv, {
    variant,
    decode: chunkDecoder(conv.keys),
    chunks: WARMUP_CHUNKS,
  });
}

/** The stored objects of `variant`, in memory for the decode reference. */
async function loadObjects(
  conv: BenchConversation,
  variant: Variant,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const key of conv.objectKeys[variant]) {
    out.push(await conv.store.getBytes(key));
  }
  return out;
}

async function decodeAll(
  conv: BenchConversation,
  variant: Variant,
  objects: readonly Uint8Array[],
): Promise<void> {
  const { gcm } = await conv.keys.keysFor(conv.uid);
  let total = 0;
  for (const object of objects) {
    const container = variant === "opus.enc"
      ? await decryptFrames(gcm, object)
      : object;
    total += decodeOpus(container).length;
  }
  if (total !== conv.pcmBytes) {
    throw new Error(
      `Cannot trust the decode reference: ${total} PCM bytes, expected ${conv.pcmBytes}`,
    );
  }
}

async function readAll(
  store: ObjectStore,
  keys: readonly string[],
  concurrency: number,
): Promise<number> {
  let bytes = 0;
  const reads = pooledMap(concurrency, keys, (key) => store.getBytes(key));
  for await (const body of reads) bytes += body.length;
  return bytes;
}

async function writeReference(
  conv: BenchConversation,
  durability: "cache" | "durable",
): Promise<void> {
  let left = WAV_HEADER_BYTES + conv.pcmBytes;
  const block = new Uint8Array(STREAM_PIECE_BYTES);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const size = Math.min(left, block.length);
      left -= size;
      controller.enqueue(block.subarray(0, size));
      if (left === 0) controller.close();
    },
  });
  await conv.store.put("bench/write-reference.wav", body, { durability });
  await conv.store.delete("bench/write-reference.wav");
}

// -------------------------------------------------------------------- merges

interface MergeSetup {
  variant: Variant;
  engine: Engine;
  group?: WorkerGroup;
  limiters?: LimiterRegistry;
  store?: ObjectStore;
  decode?: ChunkDecoder;
  uid?: string;
  fid?: string;
  timestamps?: readonly number[];
  /** Keep the merged object (the serve child reads it). */
  keep?: "keep" | "delete";
}

function mergeDeps(conv: BenchConversation, setup: MergeSetup): MergeDeps {
  const engine = setup.engine === "workers"
    ? workerOpusEngine(requireGroup(setup.group))
    : undefined;
  return {
    store: setup.store ?? conv.store,
    keys: conv.keys,
    limiters: setup.limiters ?? createDefaultLimiters(),
    decode: setup.decode ?? chunkDecoder(conv.keys, engine),
    clock: systemClock,
    log: (entry) => {
      throw new Error(`Merge logged ${JSON.stringify(entry)}`);
    },
  };
}

/** The row of the merge whose WAV goes to a discarding sink. */
const MERGE_TO_SINK = "merge, inline decode, WAV to a discarding sink";

/**
 * Reads from `store`; `put` drains the body and keeps nothing, so a merge
 * against it measures everything but writing the cache.
 */
function discardingStore(store: ObjectStore): ObjectStore {
  return wrapStore(store, {
    async put(key, body, options) {
      let size = 0;
      if (body instanceof Uint8Array) size = body.length;
      else for await (const part of body) size += part.length;
      return {
        key,
        size,
        generation: "1",
        contentType: options?.contentType ?? "application/octet-stream",
        metadata: { ...options?.metadata },
        updated: new Date(),
      };
    },
  });
}

function requireGroup(group: WorkerGroup | undefined): WorkerGroup {
  if (!group) throw new TypeError("Cannot merge on workers: no group given");
  return group;
}

/** Runs this service's merge and checks that every chunk made it. */
async function boundedMerge(
  conv: BenchConversation,
  setup: MergeSetup,
): Promise<MergeResult> {
  const uid = setup.uid ?? conv.uid;
  const cid = conv.cids[setup.variant];
  const fid = setup.fid ?? "bench";
  const timestamps = setup.timestamps ?? conv.timestamps;
  const deps = mergeDeps(conv, setup);
  const result = await mergeAudioFile(deps, {
    uid,
    cid,
    fid,
    timestamps,
    priority: "interactive",
  });
  if (result.present !== timestamps.length || result.absent !== 0) {
    throw new Error(
      `Cannot trust the merge of .${setup.variant}: ${result.present} chunks present, ${result.absent} absent`,
    );
  }
  if ((setup.keep ?? "delete") === "delete") {
    await deps.store.delete(mergedKey(uid, cid, fid));
  }
  return result;
}

/**
 * The original's shape: one listing, every GET at once, every chunk
 * decoded, the whole PCM and a WAV copy of it in memory, then one put. (The
 * original also tried up to four names per chunk; this one is given the
 * right names, which only flatters it.)
 */
async function unboundedMerge(
  conv: BenchConversation,
  setup: {
    variant: Variant;
    decode: ChunkDecoder;
    /** Only the first chunks (a warm-up); all by default. */
    chunks?: number;
    sampler?: RssSampler;
    keep?: "keep" | "delete";
  },
): Promise<Uint8Array> {
  const { store, uid } = conv;
  const cid = conv.cids[setup.variant];
  const keys = conv.objectKeys[setup.variant].slice(0, setup.chunks);
  await store.list(chunkPrefix(uid, cid));
  const objects = await Promise.all(keys.map((key) => store.getBytes(key)));
  setup.sampler?.sample();
  const pcms = await Promise.all(
    objects.map((bytes) => setup.decode(setup.variant, bytes, uid)),
  );
  setup.sampler?.sample();
  const total = pcms.reduce((sum, pcm) => sum + pcm.length, 0);
  const wav = new Uint8Array(WAV_HEADER_BYTES + total);
  wav.set(wavHeader(total));
  let at = WAV_HEADER_BYTES;
  for (const pcm of pcms) {
    wav.set(pcm, at);
    at += pcm.length;
  }
  setup.sampler?.sample();
  const key = mergedKey(uid, cid, "unbounded");
  await store.put(key, wav, { contentType: "audio/wav" });
  if ((setup.keep ?? "delete") === "delete") await store.delete(key);
  return wav;
}

// ------------------------------------------------------------------- memory

async function memorySection(
  conv: BenchConversation,
  which: "all" | "http",
): Promise<string> {
  const script = import.meta.url;
  const rows: string[][] = [];
  const cell = (bytes: number) => {
    const verdict = bytes < MEMORY_TARGET_BYTES ? "" : " ✗";
    return `${formatMb(bytes)}${verdict}`;
  };
  if (which === "all") {
    for (const scenario of MEMORY_SCENARIOS) {
      const label = `${scenario.strategy}, .${scenario.variant}, ${
        scenario.engine === "inline" ? "inline decode" : "storage group"
      }`;
      console.error(`  ${label}`);
      const result = await runChild<MemoryResult>(script, [
        "--child=download",
        `--variant=${scenario.variant}`,
        `--engine=${scenario.engine}`,
        `--strategy=${scenario.strategy}`,
        `--stream=${scenario.stream}`,
      ]);
      rows.push([
        label,
        formatMb(result.idle),
        cell(result.mergePeak - result.idle),
        formatMs(result.mergeMs),
        result.streamPeak === undefined
          ? "–"
          : cell(result.streamPeak - result.idle),
        result.streamMs === undefined ? "–" : formatMs(result.streamMs),
      ]);
    }
    // The download route serves the cache object: a fresh process streaming
    // it to a slow reader, with no merge before it.
    const fid = "serve";
    await boundedMerge(conv, {
      variant: "bin",
      engine: "inline",
      fid,
      keep: "keep",
    });
    console.error("  serve the cached WAV");
    for (const gcEvery of [0, GC_EVERY_READS]) {
      const served = await runChild<MemoryResult>(script, [
        "--child=serve",
        `--key=${mergedKey(conv.uid, conv.cids.bin, fid)}`,
        `--gc-every=${gcEvery}`,
      ]);
      rows.push([
        gcEvery === 0
          ? "serve the cached WAV only (store.get)"
          : `the same, gc() every ${GC_EVERY_READS} reads (live memory)`,
        formatMb(served.idle),
        "–",
        "–",
        cell(served.streamPeak! - served.idle),
        formatMs(served.streamMs!),
      ]);
    }
    await conv.store.delete(mergedKey(conv.uid, conv.cids.bin, fid));
  }
  const parts: string[] = [];
  if (rows.length > 0) {
    parts.push(
      `Peak RSS above idle, MB (target < ${
        formatMb(MEMORY_TARGET_BYTES)
      } MB; ✗ = over). Each row is a fresh process; the slow reader is in the same process and pauses ${SLOW_READ_PAUSE_MS} ms after every 64 KiB read.`,
      "",
      markdownTable([
        "scenario",
        "idle RSS MB",
        "merge peak − idle",
        "merge ms",
        "stream to slow reader: peak − idle",
        "stream ms",
      ], rows),
      "",
    );
  }
  parts.push(await httpSection(conv, cell));
  return parts.join("\n");
}

/** The HTTP rows: what a user of the service gets. */
async function httpSection(
  conv: BenchConversation,
  cell: (bytes: number) => string,
): Promise<string> {
  const rows: string[][] = [];
  const clients: { reads: number; largestRead: number; rssGrowth: number }[] =
    [];
  for (const scenario of HTTP_SCENARIOS) {
    const label = `.${scenario.variant}, ${
      scenario.engine === "inline" ? "inline decode" : "storage group"
    }, ${scenario.cache === "cached" ? "cached (no merge)" : "cache miss"}${
      scenario.gcMs > 0 ? `, gc() every ${scenario.gcMs} ms (live memory)` : ""
    }`;
    console.error(`  HTTP GET ${label}`);
    if (scenario.cache === "cached") {
      await boundedMerge(conv, {
        variant: scenario.variant,
        engine: "inline",
        fid: CACHED_FID,
        keep: "keep",
      });
    }
    const { result, client } = await httpDownload(scenario);
    const whole = Math.max(result.mergePeak, result.streamPeak!) - result.idle;
    rows.push([
      label,
      formatMb(result.idle),
      scenario.cache === "cached"
        ? "–"
        : formatMb(result.mergePeak - result.idle),
      formatMs(result.mergeMs),
      formatMb(result.streamIdle! - result.idle),
      formatMb(result.streamPeak! - result.idle),
      formatMs(result.streamMs!),
      `**${cell(whole)}**`,
    ]);
    clients.push(client);
  }
  const span = (values: number[], format: (n: number) => string) => {
    const low = format(Math.min(...values));
    const high = format(Math.max(...values));
    return low === high ? low : `${low} to ${high}`;
  };
  const clientNote = `${
    span(clients.map((c) => c.reads), String)
  } reads of at most ${
    formatKib(Math.max(...clients.map((c) => c.largestRead)))
  } KiB per download, client RSS +${
    span(clients.map((c) => c.rssGrowth), formatMb)
  } MB`;
  return [
    `Download over HTTP: peak RSS of the service process above its idle RSS, MB (target < ${
      formatMb(MEMORY_TARGET_BYTES)
    } MB; ✗ = over). Each row is a fresh child process running the service's app (createDeps wiring, fs store, in-memory KV) under Deno.serve on 127.0.0.1; this process is the client: GET /v1/sync/audio/{cid}/{fid}, pausing ${SLOW_READ_PAUSE_MS} ms per 64 KiB received (client side: ${clientNote}). The child samples its RSS every ${RSS_SAMPLE_INTERVAL_MS} ms from idle until the client has the last byte; "merge" ends when the route's ensure() returns.`,
    "",
    markdownTable([
      "HTTP GET of 60 min",
      "idle RSS MB",
      "merge peak − idle",
      "merge ms",
      "at response start − idle",
      "response peak − idle",
      "response ms",
      "whole request: peak − idle",
    ], rows),
  ].join("\n");
}

async function downloadChild(): Promise<MemoryResult> {
  const variant = textFlag("variant") as Variant;
  const engine = textFlag("engine") as Engine;
  const strategy = textFlag("strategy") as Strategy;
  const stream = textFlag("stream");
  const conv = await benchConversation();
  const group = engine === "workers" ? storageGroup() : undefined;
  try {
    const decode = chunkDecoder(
      conv.keys,
      group ? workerOpusEngine(group) : undefined,
    );
    // Load the modules, JIT the paths and start the workers, as in a
    // process that has served requests before.
    if (strategy === "bounded") {
      await boundedMerge(conv, {
        variant,
        engine,
        group,
        timestamps: conv.timestamps.slice(0, WARMUP_CHUNKS),
      });
    } else {
      await unboundedMerge(conv, { variant, decode, chunks: WARMUP_CHUNKS });
    }
    const idle = await idleRss();
    const sampler = new RssSampler();
    sampler.start();
    let wav: Uint8Array | undefined;
    const mergeMs = await timeMs(async () => {
      if (strategy === "bounded") {
        await boundedMerge(conv, {
          variant,
          engine,
          group,
          fid: "memory",
          keep: "keep",
        });
      } else {
        wav = await unboundedMerge(conv, { variant, decode, sampler });
      }
    });
    const mergePeak = sampler.stop().peak;
    if (stream !== "stream") {
      await conv.store.delete(
        mergedKey(conv.uid, conv.cids[variant], "memory"),
      );
      return { idle, mergePeak, mergeMs };
    }
    sampler.start();
    const key = mergedKey(conv.uid, conv.cids[variant], "memory");
    const body = wav ? memoryStream(wav) : (await conv.store.get(key)).body;
    const streamMs = await timeMs(() =>
      slowRead(body, WAV_HEADER_BYTES + conv.pcmBytes)
    );
    const streamPeak = sampler.stop().peak;
    await conv.store.delete(key);
    return { idle, mergePeak, mergeMs, streamPeak, streamMs };
  } finally {
    await group?.close();
  }
}

async function serveChild(): Promise<MemoryResult> {
  const key = textFlag("key")!;
  const gcEvery = flag("gc-every", 0);
  const conv = await benchConversation();
  const warm = await conv.store.get(key, {
    range: { start: 0, end: 1024 * 1024 - 1 },
  });
  await slowRead(warm.body, 1024 * 1024);
  const idle = await idleRss();
  const sampler = new RssSampler();
  sampler.start();
  const { body, info } = await conv.store.get(key);
  const streamMs = await timeMs(() => slowRead(body, info.size, gcEvery));
  const streamPeak = sampler.stop().peak;
  return { idle, mergePeak: idle, mergeMs: 0, streamPeak, streamMs };
}

/** KiB, rounded. */
function formatKib(bytes: number): string {
  return (bytes / 1024).toFixed(0);
}

/**
 * One HTTP scenario: starts the service child, warms it up with a short
 * download, then downloads the 60-minute file and reads it slowly. This
 * process is only the client, so its buffers never count.
 */
async function httpDownload(scenario: HttpScenario): Promise<{
  result: MemoryResult;
  client: { reads: number; largestRead: number; rssGrowth: number };
}> {
  await using child = new ChildSession(import.meta.url, [
    "--child=http",
    `--variant=${scenario.variant}`,
    `--engine=${scenario.engine}`,
    `--cache=${scenario.cache}`,
    `--gc-ms=${scenario.gcMs}`,
  ]);
  const ready = JSON.parse(await child.next()) as HttpReady;
  const headers = { Authorization: `Bearer ${await tokenFor(BENCH_UID)}` };
  const base = `http://127.0.0.1:${ready.port}/v1/sync/audio/${ready.cid}`;
  const warm = await fetch(`${base}/${WARMUP_FID}`, { headers });
  const warmBody = await checkedResponse(warm, ready.warmBytes).bytes();
  if (warmBody.length !== ready.warmBytes) {
    throw new Error(
      `Cannot trust the warm-up download: ${warmBody.length} bytes, expected ${ready.warmBytes}`,
    );
  }
  await child.send("measure");
  await expectLine(await child.next(), "measuring");
  const response = checkedResponse(
    await fetch(`${base}/${ready.fid}`, { headers }),
    ready.bytes,
  );
  const client = await pacedRead(response.body!, ready.bytes);
  await child.send("done");
  const result = JSON.parse(await child.next()) as MemoryResult;
  return { result, client };
}

function checkedResponse(response: Response, bytes: number): Response {
  const length = response.headers.get("Content-Length");
  if (response.status !== 200 || length !== String(bytes)) {
    throw new Error(
      `Cannot trust the download: status ${response.status}, Content-Length ${length}, expected 200 and ${bytes}`,
    );
  }
  return response;
}

function expectLine(line: string, expected: string): void {
  if (line !== expected) {
    throw new Error(
      `Cannot follow the benchmark child: got "${line}", expected "${expected}"`,
    );
  }
}

/**
 * A slow HTTP client: pauses {@linkcode SLOW_READ_PAUSE_MS} per 64 KiB
 * received, whatever sizes the reads come in, so that it drains at the
 * pace of the in-process slow reader.
 */
async function pacedRead(
  body: ReadableStream<Uint8Array>,
  expected: number,
): Promise<{ reads: number; largestRead: number; rssGrowth: number }> {
  const before = Deno.memoryUsage().rss;
  let peak = before;
  let bytes = 0;
  let owed = 0;
  let reads = 0;
  let largestRead = 0;
  for await (const piece of body) {
    bytes += piece.length;
    owed += piece.length;
    reads++;
    largestRead = Math.max(largestRead, piece.length);
    while (owed >= STREAM_PIECE_BYTES) {
      owed -= STREAM_PIECE_BYTES;
      await delay(SLOW_READ_PAUSE_MS);
    }
    if (reads % 16 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
  }
  if (bytes !== expected) {
    throw new Error(
      `Cannot trust the HTTP stream: ${bytes} bytes, expected ${expected}`,
    );
  }
  return { reads, largestRead, rssGrowth: peak - before };
}

/**
 * The service side of an HTTP scenario: the app built as `lib/service.ts`
 * builds it (through `createDeps`), over the generated data, served on an
 * ephemeral port. Prints {@linkcode HttpReady}, then `measuring` once idle
 * is measured, then the result once the client says `done`.
 */
async function httpChild(): Promise<void> {
  const variant = textFlag("variant") as Variant;
  const engine = textFlag("engine") as Engine;
  const cache = textFlag("cache") as HttpScenario["cache"];
  const gcMs = flag("gc-ms", 0);
  const conv = await benchConversation();
  const cid = conv.cids[variant];
  const group = engine === "workers" ? storageGroup() : undefined;
  const kv = await Deno.openKv(":memory:");
  const shutdown = new AbortController();
  const problems: Record<string, unknown>[] = [];
  const deps = createDeps({
    config: testConfig({ ENCRYPTION_SECRET: BENCH_SECRET }),
    kv,
    auth: createAuthVerifier({ hs256Secret: TEST_JWT_SECRET }),
    clock: systemClock,
    log: (entry) => {
      if (entry.level !== "info") problems.push(entry);
    },
    shutdown: shutdown.signal,
    store: conv.store,
    blobBuckets: new Map([[conv.store.bucket, conv.store]]),
    blobSigner: new BlobSigner(BENCH_SECRET),
    opus: group ? workerOpusEngine(group) : inlineOpus,
  });
  let server: Deno.HttpServer | undefined;
  const fids = [WARMUP_FID];
  try {
    // The file as `POST /v1/conversations/{cid}/audio-files` builds it,
    // without the precache that route starts: the download must merge.
    const { files } = await buildAudioFiles(deps, { uid: conv.uid, cid });
    if (
      files.length !== 1 || files[0].chunk_timestamps.length !== CHUNK_COUNT
    ) {
      throw new Error(
        `Cannot trust the seeded conversation: ${files.length} audio files`,
      );
    }
    // A cache hit reads the WAV the parent merged under CACHED_FID, so that
    // no merge in this process raises its RSS before idle is measured.
    const file = cache === "cached"
      ? { ...files[0], id: CACHED_FID }
      : files[0];
    fids.push(file.id);
    await seedFiles(deps.conversations, file);
    // The route awaits ensure() before it opens the cache object: when it
    // returns, the merge is over and the response starts.
    const mergedAudio = deps.mergedAudio;
    const ensure = mergedAudio.ensure.bind(mergedAudio);
    let onMerged = () => {};
    mergedAudio.ensure = async (request) => {
      const info = await ensure(request);
      onMerged();
      return info;
    };
    server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createApp(deps).fetch,
    );
    const lines = parentLines();
    const ready: HttpReady = {
      port: (server.addr as Deno.NetAddr).port,
      cid,
      fid: file.id,
      bytes: WAV_HEADER_BYTES + conv.pcmBytes,
      warmBytes: WAV_HEADER_BYTES + WARMUP_CHUNKS * CHUNK_PCM_BYTES,
    };
    console.log(JSON.stringify(ready));
    expectLine((await lines.read()).value ?? "", "measure");
    await conv.store.delete(mergedKey(conv.uid, cid, WARMUP_FID));
    if (
      cache === "cached" &&
      !await deps.mergedAudio.cached(conv.uid, cid, file.id)
    ) {
      throw new Error("Cannot measure a cache hit: the WAV is not cached");
    }
    const idle = await idleRss();
    const sampler = new RssSampler();
    let mergePeak = 0;
    let mergeMs = 0;
    let streamStart = 0;
    let streamIdle = 0;
    const start = performance.now();
    onMerged = () => {
      mergeMs = performance.now() - start;
      mergePeak = sampler.stop().peak;
      streamIdle = Deno.memoryUsage().rss;
      sampler.start();
      streamStart = performance.now();
    };
    const gc = (globalThis as { gc?: () => void }).gc;
    const collector = gcMs > 0 && gc ? setInterval(gc, gcMs) : undefined;
    sampler.start();
    console.log("measuring");
    expectLine((await lines.read()).value ?? "", "done");
    const streamPeak = sampler.stop().peak;
    const streamMs = performance.now() - streamStart;
    clearInterval(collector);
    if (streamStart === 0) throw new Error("Cannot trust the run: no merge");
    if (problems.length > 0) {
      throw new Error(`The service logged ${JSON.stringify(problems)}`);
    }
    await lines.cancel();
    const result: MemoryResult = {
      idle,
      mergePeak,
      mergeMs,
      streamPeak,
      streamMs,
      streamIdle,
    };
    console.log(JSON.stringify(result));
  } finally {
    shutdown.abort();
    await server?.shutdown();
    await deps.mergedAudio.idle();
    kv.close();
    await group?.close();
    for (const fid of fids) {
      await conv.store.delete(mergedKey(conv.uid, cid, fid));
    }
  }
}

/**
 * Saves `file` and a short one (its first chunks) for the warm-up as the
 * conversation's audio files.
 */
async function seedFiles(
  conversations: ConversationRepo,
  file: AudioFile,
): Promise<void> {
  const snapshot = await conversations.snapshot(file.uid, file.conversation_id);
  const warm: AudioFile = {
    ...file,
    id: WARMUP_FID,
    chunk_timestamps: file.chunk_timestamps.slice(0, WARMUP_CHUNKS),
    duration: WARMUP_CHUNKS * CHUNK_SECONDS,
  };
  const removed = snapshot &&
    await conversations.commitAudioFiles(snapshot, [
      { file, fingerprint: file.id },
      { file: warm, fingerprint: WARMUP_FID },
    ]);
  if (!removed) throw new Error("Cannot seed the audio files");
}

/** What the original did: the whole WAV in memory, handed out in pieces. */
function memoryStream(wav: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(wav.subarray(at, at + STREAM_PIECE_BYTES));
      at += STREAM_PIECE_BYTES;
      if (at >= wav.length) controller.close();
    },
  });
}

/** A reader slower than the store: it pauses after every read. */
async function slowRead(
  body: ReadableStream<Uint8Array>,
  expected: number,
  gcEvery = 0,
): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let bytes = 0;
  let reads = 0;
  for await (const piece of body) {
    bytes += piece.length;
    if (gcEvery > 0 && ++reads % gcEvery === 0) gc?.();
    await delay(SLOW_READ_PAUSE_MS);
  }
  if (bytes !== expected) {
    throw new Error(
      `Cannot trust the stream: ${bytes} bytes, expected ${expected}`,
    );
  }
}

// ------------------------------------------------------------------- counts

interface CountResult {
  perMerge: number;
  perProcess: number;
  permits: number;
  waiting: number;
  ms: number;
}

async function countSection(
  conv: BenchConversation,
  group: WorkerGroup,
): Promise<string> {
  const rows: string[][] = [];
  const scenarios: { variant: Variant; engine: Engine }[] = [
    { variant: "bin", engine: "inline" },
    { variant: "opus", engine: "workers" },
  ];
  for (const scenario of scenarios) {
    const result = await countConcurrentMerges(conv, { ...scenario, group });
    const ok = result.perMerge <= MERGE_WINDOW &&
      result.perProcess <= PROCESS_FETCH_CAP &&
      result.permits <= PROCESS_FETCH_CAP;
    rows.push([
      `.${scenario.variant}, ${
        scenario.engine === "inline" ? "inline decode" : "storage group"
      }`,
      String(CONCURRENT_MERGES),
      `${result.perMerge} (cap ${MERGE_WINDOW})`,
      `${result.perProcess} (cap ${PROCESS_FETCH_CAP})`,
      String(result.permits),
      String(result.waiting),
      formatMs(result.ms),
      ok ? "met" : "**missed**",
    ]);
  }
  return [
    `Fetch counts: ${CONCURRENT_MERGES} merges of 60 minutes at once, maxima over the whole run.`,
    "",
    markdownTable([
      "scenario",
      "merges",
      "max jobs in flight, one merge",
      "max jobs in flight, process",
      "max storage.chunk permits held",
      "max waiting for a permit (sampled)",
      "ms",
      "caps",
    ], rows),
  ].join("\n");
}

async function countConcurrentMerges(
  conv: BenchConversation,
  setup: { variant: Variant; engine: Engine; group: WorkerGroup },
): Promise<CountResult> {
  const limiters = createDefaultLimiters();
  const chunkLimiter = limiters.get("storage.chunk");
  const max = { perMerge: 0, perProcess: 0, permits: 0, waiting: 0 };
  function sampleLimiter(): void {
    max.permits = Math.max(max.permits, chunkLimiter.inFlight);
    max.waiting = Math.max(max.waiting, chunkLimiter.waiting);
  }
  const uids = Array.from(
    { length: CONCURRENT_MERGES },
    (_, i) => `${conv.uid}-${i + 1}`,
  );
  const store = new AliasStore(conv.store, new Set(uids), conv.uid);
  const jobs = new JobCounter((perMerge, perProcess) => {
    max.perMerge = Math.max(max.perMerge, perMerge);
    max.perProcess = Math.max(max.perProcess, perProcess);
    sampleLimiter();
  });
  store.onFetch = (uid) => jobs.start(uid);
  store.onFetchFailed = (uid) => jobs.end(uid);
  const inner = chunkDecoder(
    conv.keys,
    setup.engine === "workers" ? workerOpusEngine(setup.group) : undefined,
  );
  const decode: ChunkDecoder = async (ext, bytes, uid, signal) => {
    try {
      return await inner(ext, bytes, conv.uid, signal);
    } finally {
      jobs.end(uid);
    }
  };
  const timer = setInterval(sampleLimiter, 1);
  try {
    const ms = await timeMs(() =>
      Promise.all(uids.map((uid) =>
        boundedMerge(conv, {
          variant: setup.variant,
          engine: setup.engine,
          group: setup.group,
          limiters,
          store,
          decode,
          uid,
        })
      ))
    );
    return { ...max, ms };
  } finally {
    clearInterval(timer);
  }
}

/** Fetch+decode jobs in flight, per merge (user id) and in total. */
class JobCounter {
  #perUid = new Map<string, number>();
  #total = 0;
  #onChange: (perMerge: number, perProcess: number) => void;

  constructor(onChange: (perMerge: number, perProcess: number) => void) {
    this.#onChange = onChange;
  }

  start(uid: string): void {
    const count = (this.#perUid.get(uid) ?? 0) + 1;
    this.#perUid.set(uid, count);
    this.#total++;
    this.#onChange(count, this.#total);
  }

  end(uid: string): void {
    this.#perUid.set(uid, (this.#perUid.get(uid) ?? 0) - 1);
    this.#total--;
  }
}

/**
 * The generated objects seen under several user ids, so that concurrent
 * merges are merges of different conversations without copying 115 MB per
 * user. Chunk reads are reported to `onFetch` with the alias they were
 * made under; writes go to the real store as they are.
 */
class AliasStore implements ObjectStore {
  readonly bucket: string;
  onFetch: (uid: string) => void = () => {};
  onFetchFailed: (uid: string) => void = () => {};
  #store: ObjectStore;
  #aliases: ReadonlySet<string>;
  #uid: string;

  constructor(store: ObjectStore, aliases: ReadonlySet<string>, uid: string) {
    this.bucket = store.bucket;
    this.#store = store;
    this.#aliases = aliases;
    this.#uid = uid;
  }

  async list(prefix: string, options?: SignalOptions): Promise<ObjectInfo[]> {
    const alias = this.#aliasOf(prefix);
    if (alias === undefined) return await this.#store.list(prefix, options);
    const real = this.#real(prefix, alias);
    const infos = await this.#store.list(real, options);
    return infos.map((info) => ({
      ...info,
      key: `chunks/${alias}/${info.key.slice(`chunks/${this.#uid}/`.length)}`,
    }));
  }

  head(key: string, options?: SignalOptions): Promise<ObjectInfo | null> {
    const alias = this.#aliasOf(key);
    return this.#store.head(
      alias === undefined ? key : this.#real(key, alias),
      options,
    );
  }

  get(
    key: string,
    options?: GetOptions,
  ): Promise<{ info: ObjectInfo; body: ReadableStream<Uint8Array> }> {
    const alias = this.#aliasOf(key);
    return this.#store.get(
      alias === undefined ? key : this.#real(key, alias),
      options,
    );
  }

  async getBytes(key: string, options?: GetOptions): Promise<Uint8Array> {
    const alias = this.#aliasOf(key);
    if (alias === undefined) return await this.#store.getBytes(key, options);
    this.onFetch(alias);
    try {
      return await this.#store.getBytes(this.#real(key, alias), options);
    } catch (error) {
      this.onFetchFailed(alias);
      throw error;
    }
  }

  put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    options?: PutOptions,
  ): Promise<ObjectInfo> {
    return this.#store.put(key, body, options);
  }

  delete(key: string, options?: SignalOptions): Promise<boolean> {
    return this.#store.delete(key, options);
  }

  deletePrefix(prefix: string, options?: SignalOptions): Promise<number> {
    return this.#store.deletePrefix(prefix, options);
  }

  signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    return this.#store.signedUrl(key, options);
  }

  #aliasOf(key: string): string | undefined {
    const [kind, uid] = key.split("/");
    return kind === "chunks" && this.#aliases.has(uid) ? uid : undefined;
  }

  #real(key: string, alias: string): string {
    return `chunks/${this.#uid}/${key.slice(`chunks/${alias}/`.length)}`;
  }
}

// Last, so that every class above is initialized before main runs.
if (import.meta.main) {
  const child = textFlag("child");
  if (child === "download") console.log(JSON.stringify(await downloadChild()));
  else if (child === "serve") console.log(JSON.stringify(await serveChild()));
  else if (child === "http") await httpChild();
  else await main();
}
