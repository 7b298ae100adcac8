/**
 * Builds the service's dependencies from the parts that differ between the
 * running service and tests (KV, stores, Opus engine, clock, log), so both
 * wire the rest the same way.
 *
 * @module
 */
import type { LogSink } from "./access_log.ts";
import type { AppDeps } from "./app_env.ts";
import type { OpusEngine } from "./audio/chunk_codec.ts";
import type { AuthVerifier } from "./auth.ts";
import type { Clock } from "./clock.ts";
import { createDefaultLimiters } from "./concurrency/limiter_registry.ts";
import type { Config } from "./config.ts";
import { KeyRing } from "./crypto/key_ring.ts";
import { ConversationRepo } from "./db/conversations.ts";
import { UserSettingsRepo } from "./db/user_settings.ts";
import { chunkDecoder } from "./merge/chunk_decoder.ts";
import { MergedAudio } from "./merge/merged_audio.ts";
import { MetricsRegistry } from "./metrics.ts";
import type { BlobSigner } from "./storage/blob_signer.ts";
import type { ObjectStore } from "./storage/object_store.ts";
import type { NotificationDeps } from "./notifications/daily_summary_run.ts";
import { createNotificationDeps } from "./notifications/notification_config.ts";

/**
 * Merges queued beyond this many answer 503 at once instead of piling up
 * (the original's storage queue reached 844).
 */
export const MAX_QUEUED_MERGES = 256;
/** Chunk fetches queued beyond this many answer 503 at once. */
export const MAX_QUEUED_CHUNK_FETCHES = 4096;

/** The parts a caller chooses. */
export interface DepsParts {
  config: Config;
  kv: Deno.Kv;
  auth: AuthVerifier;
  store: ObjectStore;
  blobBuckets: Map<string, ObjectStore>;
  blobSigner: BlobSigner;
  opus: OpusEngine;
  clock: Clock;
  log: LogSink;
  shutdown: AbortSignal;
  metrics?: MetricsRegistry;
  /** Defaults to what `config.notifications` names. */
  notifications?: NotificationDeps;
}

/**
 * Wires limiters, keys, repositories and the merged-audio cache around the
 * given parts.
 *
 * @param parts the parts that differ between service and tests
 */
export function createDeps(parts: DepsParts): AppDeps {
  const { config, clock } = parts;
  const metrics = parts.metrics ?? new MetricsRegistry();
  const limiters = createDefaultLimiters({
    "storage.chunk": {
      permits: config.limitStorageChunk,
      maxWaiting: MAX_QUEUED_CHUNK_FETCHES,
    },
    "storage.file": {
      permits: config.limitStorageFile,
      perKeyCap: config.limitMergesPerUser,
      maxWaiting: MAX_QUEUED_MERGES,
    },
  }, { clock });
  limiters.attach(metrics);
  const keys = new KeyRing(config.encryptionSecret);
  const mergedAudio = new MergedAudio({
    store: parts.store,
    keys,
    limiters,
    decode: chunkDecoder(keys, parts.opus),
    clock,
    log: parts.log,
  });
  return {
    ...parts,
    metrics,
    keys,
    limiters,
    conversations: new ConversationRepo(parts.kv),
    settings: new UserSettingsRepo(parts.kv),
    mergedAudio,
    notifications: parts.notifications ??
      createNotificationDeps(config.notifications, { log: parts.log }),
  };
}
