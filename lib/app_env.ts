/**
 * The types every route shares: the dependencies the app is built from and
 * the Hono environment (context variables).
 *
 * @module
 */
import type { AuthVerifier } from "./auth.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { LogSink } from "./access_log.ts";
import type { MetricsRegistry } from "./metrics.ts";

/** Everything the HTTP app needs, injected so tests choose each part. */
export interface AppDeps {
  config: Config;
  /** Metadata: conversations, audio files, settings, jobs, locks. */
  kv: Deno.Kv;
  auth: AuthVerifier;
  metrics: MetricsRegistry;
  clock: Clock;
  /** Structured log output; access log and error reports. */
  log: LogSink;
  /** Aborts when the process starts shutting down. */
  shutdown: AbortSignal;
}

/** Context variables set by the app's middleware. */
export interface AppEnv {
  Variables: {
    /** Set by `requestId()`. */
    requestId: string;
    /** The authenticated caller, set by `requireUser()`. */
    uid: string;
  };
}
