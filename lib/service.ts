/**
 * Assembles the running service from its configuration: KV, stores,
 * limiters, worker groups and the HTTP app; serves it and drains it on
 * shutdown. `main.ts` is a thin wrapper around {@linkcode startService}.
 *
 * @module
 */
import { jsonLineSink, type LogSink } from "./access_log.ts";
import { createApp } from "./app.ts";
import type { AppDeps } from "./app_env.ts";
import {
  createAuthVerifier,
  DEV_SECRET_FILE,
  loadOrCreateDevSecret,
} from "./auth.ts";
import { systemClock } from "./clock.ts";
import { type Config, ConfigError } from "./config.ts";
import { MetricsRegistry } from "./metrics.ts";
import { createDeps } from "./deps.ts";
import { scheduleDailySummaries } from "./notifications/scheduler.ts";
import { createServiceWorkerGroups } from "./workers/service_groups.ts";
import { workerOpusEngine } from "./workers/worker_opus.ts";
import { BlobSigner } from "./storage/blob_signer.ts";
import { FsStore } from "./storage/fs_store.ts";
import { GcsStore } from "./storage/gcs_store.ts";
import type { ObjectStore } from "./storage/object_store.ts";

/** A started service. */
export interface Service {
  /** Where it listens. */
  addr: Deno.NetAddr;
  /** Aborted when shutdown starts. */
  shutdownSignal: AbortSignal;
  /**
   * Stops accepting, lets in-flight requests finish within the grace period,
   * then releases every resource. Safe to call more than once.
   */
  shutdown(): Promise<void>;
}

/** Options of {@linkcode startService}. */
export interface StartOptions {
  log?: LogSink;
  /** True on Deno Deploy, where a secret must be configured explicitly. */
  managed?: boolean;
}

/**
 * Opens every dependency named by `config`, serves the app and returns a
 * handle to stop it.
 *
 * @param config the validated configuration
 * @param options log sink and deployment kind
 */
export async function startService(
  config: Config,
  options: StartOptions = {},
): Promise<Service> {
  const log = options.log ?? jsonLineSink;
  const cleanups: Array<() => Promise<void> | void> = [];
  const shutdownController = new AbortController();
  try {
    const jwtSecret = await resolveJwtSecret(config, options.managed ?? false);
    const auth = createAuthVerifier({
      hs256Secret: jwtSecret,
      jwksUrl: config.authJwksUrl,
      audience: config.authAudience,
      issuer: config.authIssuer,
    });
    const metrics = new MetricsRegistry();
    const kv = await openKv(config, options.managed ?? false);
    cleanups.push(() => kv.close());
    const blobSigner = new BlobSigner(
      config.blobUrlSecret ?? jwtSecret ?? randomSecret(),
    );
    // With PORT=0 the port is known only once listening.
    let listeningPort = config.port;
    const publicBaseUrl = () =>
      config.publicBaseUrl ?? `http://127.0.0.1:${listeningPort}`;
    const stores = openStores(config, blobSigner, publicBaseUrl);
    const workers = createServiceWorkerGroups({
      storage: config.workersStorage,
      sync: config.workersSync,
    });
    cleanups.push(() => workers.close({ mode: "cancel" }));
    metrics.register(() => workers.collect());
    const deps: AppDeps = createDeps({
      config,
      kv,
      auth,
      metrics,
      clock: systemClock,
      log,
      shutdown: shutdownController.signal,
      store: stores.privateSync,
      blobBuckets: stores.blobBuckets,
      blobSigner,
      opus: workerOpusEngine(workers.get("storage")),
    });
    cleanups.push(() => deps.mergedAudio.idle());
    cleanups.push(scheduleDailySummaries(deps));
    const app = createApp(deps);
    const inFlight = new RequestTracker();
    metrics.register(() => [{
      name: "audiosync_http_requests_in_flight",
      help: "Requests whose handler is running",
      type: "gauge",
      samples: [{ value: inFlight.active }],
    }]);
    const server = Deno.serve({
      port: config.port,
      hostname: config.hostname,
      onListen() {},
    }, (request, info) => inFlight.track(() => app.fetch(request, info)));
    const addr = server.addr as Deno.NetAddr;
    listeningPort = addr.port;
    log({
      time: new Date().toISOString(),
      level: "info",
      msg: "listening",
      url: `http://${addr.hostname}:${addr.port}`,
      port: addr.port,
    });
    if (!config.authJwtSecret && !config.authJwksUrl) {
      log({
        time: new Date().toISOString(),
        level: "info",
        msg:
          `local tokens: run 'deno task token <uid>' (signed with ${config.dataDir}/${DEV_SECRET_FILE}) and send 'Authorization: Bearer <token>'`,
      });
    }

    let stopping: Promise<void> | undefined;
    return {
      addr,
      shutdownSignal: shutdownController.signal,
      shutdown() {
        stopping ??= drain(
          { server, inFlight, controller: shutdownController },
          cleanups,
          config,
          log,
        );
        return stopping;
      },
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup();
    throw error;
  }
}

/**
 * Counts requests whose handler is running. `Deno.HttpServer.shutdown()`
 * cuts the bodies of requests still uploading, so draining first waits for
 * handlers to finish and only then shuts the server.
 */
class RequestTracker {
  #active = 0;
  #idle = Promise.withResolvers<void>();

  async track(handle: () => Response | Promise<Response>): Promise<Response> {
    this.#active++;
    try {
      return await handle();
    } finally {
      if (--this.#active === 0) {
        this.#idle.resolve();
        this.#idle = Promise.withResolvers<void>();
      }
    }
  }

  /** Handlers running now. */
  get active(): number {
    return this.#active;
  }

  /** Resolves once no handler runs. */
  idle(): Promise<void> {
    return this.#active === 0 ? Promise.resolve() : this.#idle.promise;
  }
}

async function drain(
  running: {
    server: Deno.HttpServer;
    inFlight: RequestTracker;
    controller: AbortController;
  },
  cleanups: Array<() => Promise<void> | void>,
  config: Config,
  log: LogSink,
): Promise<void> {
  const started = performance.now();
  // Health checks now answer 503, so balancers stop sending new work.
  running.controller.abort(new Error("Service is shutting down"));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const graceOver = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), config.shutdownGraceMs);
  });
  const outcome = await Promise.race([
    running.inFlight.idle()
      .then(() => running.server.shutdown())
      .then(() => "drained" as const),
    graceOver,
  ]);
  clearTimeout(timer);
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      log({ level: "error", msg: "cleanup failed", error: String(error) });
    }
  }
  log({
    time: new Date().toISOString(),
    level: "info",
    msg: "stopped",
    outcome,
    ms: Math.round(performance.now() - started),
  });
}

/** The buckets of the configured storage kind. */
function openStores(
  config: Config,
  signer: BlobSigner,
  publicBaseUrl: () => string,
) {
  const names = [config.bucketPrivateCloudSync, config.bucketTemporalSyncLocal];
  const blobBuckets = new Map<string, ObjectStore>();
  const open = (bucket: string): ObjectStore =>
    config.storage === "gcs" ? new GcsStore({ bucket }) : new FsStore({
      root: config.storageDir,
      bucket,
      signer,
      publicBaseUrl,
    });
  for (const bucket of names) {
    const store = open(bucket);
    // GCS serves its own signed URLs; only fs URLs come back to this service.
    if (config.storage === "fs") blobBuckets.set(bucket, store);
  }
  return {
    privateSync: blobBuckets.get(config.bucketPrivateCloudSync) ??
      open(config.bucketPrivateCloudSync),
    blobBuckets,
  };
}

function randomSecret(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** The KV file under `DATA_DIR`; Deno Deploy provides its own KV. */
export const KV_FILE = "audiosync.kv";

async function openKv(config: Config, managed: boolean): Promise<Deno.Kv> {
  if (managed) return await Deno.openKv();
  await Deno.mkdir(config.dataDir, { recursive: true });
  return await Deno.openKv(`${config.dataDir}/${KV_FILE}`);
}

async function resolveJwtSecret(
  config: Config,
  managed: boolean,
): Promise<string | undefined> {
  if (config.authJwtSecret) return config.authJwtSecret;
  if (config.authJwksUrl) return undefined;
  if (managed) {
    throw new ConfigError(
      "AUTH_JWT_SECRET",
      "or AUTH_JWKS_URL must be set in a deployment",
    );
  }
  return await loadOrCreateDevSecret(config.dataDir);
}
