/**
 * Daily-summary fan-out: fixed batches of 8 (the original) against a rolling
 * window of 8, over synthetic users with log-normal latency and 2 %
 * failures, beside the ideal time (sum of latencies / 8).
 *
 *     deno run --allow-read --allow-env bench/notifications_bench.ts [--users=10000] [--mean-ms=8] [--seed=42]
 *
 * Real timers stand in for each user's work; the latency is scaled down
 * from the ~20 ms of the issue so both strategies finish within a minute.
 * The ratio to the ideal does not depend on the scale, as long as the mean
 * stays well above the timer resolution (1 ms).
 *
 * @module
 */
import {
  fanOut,
  type FanOutStrategy,
  NOTIFY_CONCURRENCY,
} from "../lib/notifications/fan_out.ts";

/** Share of users whose delivery fails (the 2 %). */
const FAILURE_RATE = 0.02;
/** Spread of the log-normal latency; sigma 1 gives a long tail (p99 about 10x the median). */
const LOG_NORMAL_SIGMA = 1;

function flag(name: string, fallback: number): number {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split("=")[1]) : fallback;
}

/** mulberry32: a small seeded PRNG, so every run draws the same users. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SyntheticUser {
  id: number;
  latencyMs: number;
  fails: boolean;
}

function syntheticUsers(
  count: number,
  meanMs: number,
  seed: number,
): SyntheticUser[] {
  const random = prng(seed);
  const mu = Math.log(meanMs) - LOG_NORMAL_SIGMA ** 2 / 2;
  return Array.from({ length: count }, (_, id) => {
    const u1 = 1 - random();
    const u2 = random();
    const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return {
      id,
      latencyMs: Math.exp(mu + LOG_NORMAL_SIGMA * normal),
      fails: random() < FAILURE_RATE,
    };
  });
}

/** An in-memory notifier: waits the user's latency, then accepts or fails. */
function notify(user: SyntheticUser, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (user.fails) reject(new Error(`user ${user.id} failed`));
      else resolve(user.id);
    }, user.latencyMs);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

async function measure(users: SyntheticUser[], strategy: FanOutStrategy) {
  const started = performance.now();
  const results = await fanOut(users, notify, {
    strategy,
    concurrency: NOTIFY_CONCURRENCY,
    deadlineMs: 60_000,
  });
  const wallMs = performance.now() - started;
  const failed = results.filter((r) => r.status === "rejected").length;
  return { wallMs, failed, delivered: results.length - failed };
}

if (import.meta.main) {
  const count = flag("users", 10_000);
  const meanMs = flag("mean-ms", 8);
  const seed = flag("seed", 42);
  const users = syntheticUsers(count, meanMs, seed);
  const sampledMean = users.reduce((s, u) => s + u.latencyMs, 0) / count;
  const idealMs = (count * sampledMean) / NOTIFY_CONCURRENCY;
  console.log(
    `users=${count} window=${NOTIFY_CONCURRENCY} latency=log-normal(mean ${meanMs} ms, sigma ${LOG_NORMAL_SIGMA}; sampled mean ${
      sampledMean.toFixed(2)
    } ms) failures=${users.filter((u) => u.fails).length} seed=${seed}`,
  );
  console.log(
    `ideal (users x mean latency / ${NOTIFY_CONCURRENCY}): ${
      (idealMs / 1000).toFixed(2)
    } s`,
  );
  console.log("strategy  wall (s)  ideal (s)  wall/ideal  delivered  failed");
  for (const strategy of ["batches", "rolling"] as const) {
    const { wallMs, failed, delivered } = await measure(users, strategy);
    console.log(
      `${strategy.padEnd(8)}  ${(wallMs / 1000).toFixed(2).padStart(8)}  ${
        (idealMs / 1000).toFixed(2).padStart(9)
      }  ${(wallMs / idealMs).toFixed(2).padStart(10)}  ${
        String(delivered).padStart(9)
      }  ${String(failed).padStart(6)}`,
    );
  }
}
