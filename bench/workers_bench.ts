/**
 * Worker groups (issue 5): Opus decode of the generated 60-minute
 * conversation (720 `.opus` objects, in memory: no I/O) on the main isolate
 * and through the `storage` worker group, and the latency of a cheap
 * request (`GET /healthz` on a `Deno.serve` in this process, 127.0.0.1)
 * fired every few ms while that decode runs, against the idle latency
 * measured in the same run.
 *
 *     deno run -A bench/workers_bench.ts [--runs=3] [--interval-ms=5]
 *
 * Latency is counted from the moment a request was due, not from when it
 * was sent: a request that falls due while the isolate is blocked waits for
 * the isolate, as a client's request would wait in the socket backlog. The
 * prober sends one request at a time and keeps running after the decode
 * until every request due during it has been answered.
 *
 * The main isolate decodes in two ways: one pass (every packet back to back,
 * the way CPU work runs when nothing awaits I/O in between), and one chunk
 * per macrotask (yielding to the event loop after each 5-second chunk, like
 * a merge whose every chunk awaits a fetch).
 *
 * @module
 */
import { delay, pooledMap } from "@std/async";
import { decodeOpus } from "../lib/audio/opus_codec.ts";
import { workerOpusEngine } from "../lib/workers/worker_opus.ts";
import type { WorkerGroup } from "../lib/workers/worker_group.ts";
import {
  type BenchConversation,
  benchConversation,
  CHUNK_COUNT,
  flag,
  formatMs,
  formatRatio,
  machineNote,
  markdownTable,
  median,
  percentile,
  storageGroup,
  timeMs,
} from "./_util.ts";

/** How long the idle latency is sampled per round, in ms. */
const IDLE_PROBE_MS = 1_500;
/** Tasks handed to the group at once: enough to keep every worker busy. */
const TASKS_PER_WORKER = 4;
/** Objects decoded by the warm-up (JIT, libopus, worker start). */
const WARMUP_OBJECTS = 24;

/** One way of running the decode. */
interface Scenario {
  name: string;
  /** Decodes every object; returns the PCM bytes produced. */
  decode: (objects: readonly Uint8Array[]) => Promise<number>;
}

async function main(): Promise<void> {
  const runs = flag("runs", 3);
  const intervalMs = flag("interval-ms", 5);
  const started = performance.now();
  const conv = await benchConversation();
  const objects = await loadObjects(conv);
  const cores = navigator.hardwareConcurrency;
  const groups: WorkerGroup[] = [storageGroup(cores)];
  if (cores > 1) groups.push(storageGroup(cores - 1));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    function healthz(request) {
      return new URL(request.url).pathname === "/healthz"
        ? new Response("ok")
        : new Response("not found", { status: 404 });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/healthz`;
  try {
    const scenarios: Scenario[] = [
      { name: "main isolate, one pass", decode: decodeInOnePass },
      { name: "main isolate, one chunk per macrotask", decode: decodeYielding },
      ...groups.map((group) => ({
        name: `storage group, ${group.size} worker${
          group.size === 1 ? "" : "s"
        }${group.size === cores ? " (= cores)" : " (cores − 1)"}`,
        decode: (all: readonly Uint8Array[]) => decodeInGroup(group, all),
      })),
    ];
    // Warm-up: libopus compiled, workers started, fetch connection open.
    await probeWhile(url, intervalMs, () => delay(200));
    for (const scenario of scenarios) {
      await scenario.decode(objects.slice(0, WARMUP_OBJECTS));
    }

    const idle: number[] = [];
    const decodeMs = new Map<string, number[]>();
    const latencies = new Map<string, number[]>();
    for (let round = 0; round < runs; round++) {
      console.error(`round ${round + 1} of ${runs}`);
      idle.push(
        ...(await probeWhile(url, intervalMs, () => delay(IDLE_PROBE_MS)))
          .latencies,
      );
      for (const scenario of scenarios) {
        const { latencies: during, ms } = await probeWhile(
          url,
          intervalMs,
          async () => {
            const bytes = await scenario.decode(objects);
            if (bytes !== conv.pcmBytes) {
              throw new Error(
                `Cannot trust "${scenario.name}": ${bytes} PCM bytes, expected ${conv.pcmBytes}`,
              );
            }
          },
        );
        push(decodeMs, scenario.name, ms);
        push(latencies, scenario.name, ...during);
      }
    }
    console.log(
      report({ runs, intervalMs, scenarios, idle, decodeMs, latencies }),
    );
  } finally {
    await server.shutdown();
    await Promise.all(groups.map((group) => group.close()));
  }
  console.log(
    `\nTotal bench time ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s.`,
  );
}

function push(map: Map<string, number[]>, key: string, ...values: number[]) {
  const list = map.get(key) ?? [];
  list.push(...values);
  map.set(key, list);
}

/**
 * The `.opus` objects as views into one buffer: the worker engine then
 * copies each before transferring it, so every round decodes the same
 * bytes.
 */
async function loadObjects(conv: BenchConversation): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for (const key of conv.objectKeys.opus) {
    parts.push(await conv.store.getBytes(key));
  }
  const all = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  const views: Uint8Array[] = [];
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    views.push(all.subarray(at, at + part.length));
    at += part.length;
  }
  return views;
}

function decodeInOnePass(objects: readonly Uint8Array[]): Promise<number> {
  let bytes = 0;
  for (const object of objects) bytes += decodeOpus(object).length;
  return Promise.resolve(bytes);
}

async function decodeYielding(
  objects: readonly Uint8Array[],
): Promise<number> {
  let bytes = 0;
  for (const object of objects) {
    bytes += decodeOpus(object).length;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return bytes;
}

async function decodeInGroup(
  group: WorkerGroup,
  objects: readonly Uint8Array[],
): Promise<number> {
  const engine = workerOpusEngine(group);
  let bytes = 0;
  const results = pooledMap(
    TASKS_PER_WORKER * group.size,
    objects,
    async (object) => (await engine.decode(object)).length,
  );
  for await (const length of results) bytes += length;
  return bytes;
}

/**
 * Fires `GET url` every `intervalMs` while `work` runs and until every
 * request that fell due before it ended has been answered.
 *
 * @returns each request's latency from its due time, and `work`'s duration
 */
async function probeWhile(
  url: string,
  intervalMs: number,
  work: () => Promise<unknown>,
): Promise<{ latencies: number[]; ms: number }> {
  const latencies: number[] = [];
  let endedAt = Infinity;
  async function probe(): Promise<void> {
    let due = performance.now();
    while (due <= endedAt) {
      const wait = due - performance.now();
      if (wait > 0) await delay(wait);
      const response = await fetch(url);
      await response.body?.cancel();
      if (!response.ok) {
        throw new Error(`Cannot probe ${url}: status ${response.status}`);
      }
      latencies.push(performance.now() - due);
      due += intervalMs;
    }
  }
  const prober = probe();
  try {
    const ms = await timeMs(work);
    endedAt = performance.now();
    return { latencies, ms };
  } finally {
    endedAt = Math.min(endedAt, performance.now());
    await prober;
  }
}

function report(input: {
  runs: number;
  intervalMs: number;
  scenarios: Scenario[];
  idle: number[];
  decodeMs: Map<string, number[]>;
  latencies: Map<string, number[]>;
}): string {
  const { idle, decodeMs, latencies } = input;
  const baseline = decodeMs.get(input.scenarios[0].name)!;
  const quantiles = (values: number[]) => ({
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: Math.max(...values),
  });
  const idleQ = quantiles(idle);
  const rows: string[][] = [[
    "idle (no decode)",
    "–",
    "–",
    String(idle.length),
    formatMs(idleQ.p50),
    formatMs(idleQ.p99),
    formatMs(idleQ.max),
    "1.00x",
    "1.00x",
  ]];
  for (const scenario of input.scenarios) {
    const ms = decodeMs.get(scenario.name)!;
    const during = latencies.get(scenario.name)!;
    const q = quantiles(during);
    rows.push([
      scenario.name,
      formatMs(median(ms)),
      formatRatio(median(ms), median(baseline)),
      String(during.length),
      formatMs(q.p50),
      formatMs(q.p99),
      formatMs(q.max),
      formatRatio(q.p50, idleQ.p50),
      formatRatio(q.p99, idleQ.p99),
    ]);
  }
  return [
    `Opus decode of ${CHUNK_COUNT} chunks (60 min) and /healthz latency every ${input.intervalMs} ms during it; ${machineNote()}; ${input.runs} rounds after a warm-up (decode: median; latency: every request of every round).`,
    "",
    markdownTable([
      "decode on",
      "decode ms",
      "÷ main isolate, one pass",
      "requests",
      "latency p50 ms",
      "p99 ms",
      "max ms",
      "p50 ÷ idle",
      "p99 ÷ idle",
    ], rows),
  ].join("\n");
}

if (import.meta.main) await main();
