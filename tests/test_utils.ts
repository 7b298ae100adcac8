/**
 * Helpers shared by the tests: configuration, tokens, the app with chosen
 * dependencies, temporary directories.
 *
 * @module
 */
import type { Hono } from "hono";
import { createApp } from "../lib/app.ts";
import type { AppDeps, AppEnv } from "../lib/app_env.ts";
import { createAuthVerifier, signDevToken } from "../lib/auth.ts";
import { systemClock } from "../lib/clock.ts";
import { type Config, loadConfig } from "../lib/config.ts";
import { MetricsRegistry } from "../lib/metrics.ts";
import { inlineOpus } from "../lib/audio/chunk_codec.ts";
import { createDeps } from "../lib/deps.ts";
import { BlobSigner } from "../lib/storage/blob_signer.ts";
import { MemoryStore } from "../lib/storage/memory_store.ts";

/** HS256 secret every test app accepts. */
export const TEST_JWT_SECRET = "test-secret-0123456789abcdef0123456789";
/** A valid `ENCRYPTION_SECRET` for tests. */
export const TEST_ENCRYPTION_SECRET = "test-encryption-secret-0123456789abcdef";

/** The configuration of a test app; `env` overrides variables. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ENCRYPTION_SECRET: TEST_ENCRYPTION_SECRET,
    DATA_DIR: "/nonexistent-test-data-dir",
    ...env,
  });
}

/** A bearer token for `uid` that test apps accept. */
export function tokenFor(uid: string, ttlSeconds = 3600): Promise<string> {
  return signDevToken(uid, { secret: TEST_JWT_SECRET, ttlSeconds });
}

/** The `Authorization` header for `uid`. */
export async function authHeader(
  uid: string,
): Promise<{ Authorization: string }> {
  return { Authorization: `Bearer ${await tokenFor(uid)}` };
}

/** A test app, its dependencies and the log entries it wrote. */
export interface TestApp extends AsyncDisposable {
  app: Hono<AppEnv>;
  deps: AppDeps;
  logs: Record<string, unknown>[];
  shutdown: AbortController;
}

/**
 * Builds the app with test defaults (an in-memory KV that is closed on
 * dispose); `overrides` replaces any dependency. Use with `await using`.
 *
 * @param overrides dependencies the test chooses
 */
export async function makeTestApp(
  overrides: Partial<AppDeps> = {},
): Promise<TestApp> {
  const logs: Record<string, unknown>[] = [];
  const shutdown = new AbortController();
  const kv = overrides.kv ?? await Deno.openKv(":memory:");
  const blobSigner = new BlobSigner(TEST_JWT_SECRET);
  const store = overrides.store ??
    new MemoryStore({
      bucket: "omi-private-cloud-sync",
      signer: blobSigner,
      publicBaseUrl: "http://127.0.0.1:8080",
    });
  const deps: AppDeps = {
    ...createDeps({
      config: overrides.config ?? testConfig(),
      kv,
      auth: createAuthVerifier({ hs256Secret: TEST_JWT_SECRET }),
      metrics: new MetricsRegistry(),
      clock: overrides.clock ?? systemClock,
      log: (entry) => logs.push(entry),
      shutdown: shutdown.signal,
      store,
      blobBuckets: new Map([[store.bucket, store]]),
      blobSigner,
      opus: inlineOpus,
    }),
    ...overrides,
  };
  return {
    app: createApp(deps),
    deps,
    logs,
    shutdown,
    async [Symbol.asyncDispose]() {
      shutdown.abort();
      await deps.mergedAudio.idle();
      if (!overrides.kv) kv.close();
      await Promise.resolve();
    },
  };
}

/** Runs `fn` with a fresh temporary directory that is removed afterwards. */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "audiosync-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
