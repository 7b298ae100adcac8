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
import type { OpusEngine } from "./audio/chunk_codec.ts";
import type { LimiterRegistry } from "./concurrency/limiter_registry.ts";
import type { KeyRing } from "./crypto/key_ring.ts";
import type { ConversationRepo } from "./db/conversations.ts";
import type { UserSettingsRepo } from "./db/user_settings.ts";
import type { MergedAudio } from "./merge/merged_audio.ts";
import type { BlobSigner } from "./storage/blob_signer.ts";
import type { ObjectStore } from "./storage/object_store.ts";
import type { NotificationDeps } from "./notifications/daily_summary_run.ts";

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
  /** The private cloud sync bucket: chunks, batches, merged cache. */
  store: ObjectStore;
  /** Buckets the signed blob route may serve (`fs` storage), by name. */
  blobBuckets: Map<string, ObjectStore>;
  /** Verifies signed blob URLs. */
  blobSigner: BlobSigner;
  /** Per-user encryption keys. */
  keys: KeyRing;
  /** The process's named limiters. */
  limiters: LimiterRegistry;
  /** Where libopus runs (the storage worker group in the service). */
  opus: OpusEngine;
  conversations: ConversationRepo;
  settings: UserSettingsRepo;
  /** The merged-audio cache. */
  mergedAudio: MergedAudio;
  /** Summarizer and notifiers of the daily summaries. */
  notifications: NotificationDeps;
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
