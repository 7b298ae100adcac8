/**
 * Configuration from environment variables (DESIGN.md section 7). Every
 * variable is optional for `deno task dev`; an invalid value stops start-up
 * with one line naming the variable.
 *
 * @module
 */

import {
  loadNotificationConfig,
  type NotificationConfig,
} from "./notifications/notification_config.ts";

/** Where objects are stored. */
export type StorageKind = "fs" | "gcs";

/** The service's validated configuration. */
export interface Config {
  /** HTTP port; `PORT`, default 8080. */
  port: number;
  /** Interface to listen on; `HOSTNAME`, default `0.0.0.0`. */
  hostname: string;
  /** KV file and `fs` storage live here; `DATA_DIR`, default `./data`. */
  dataDir: string;
  /** `STORAGE`: `fs` (default) or `gcs`. */
  storage: StorageKind;
  /** Root of the `fs` store; `STORAGE_DIR`, default `$DATA_DIR/storage`. */
  storageDir: string;
  /** Chunks and the merged cache; `BUCKET_PRIVATE_CLOUD_SYNC`. */
  bucketPrivateCloudSync: string;
  /** Temporary offline-sync segments; `BUCKET_TEMPORAL_SYNC_LOCAL`. */
  bucketTemporalSyncLocal: string;
  /** Master secret of per-user keys; `ENCRYPTION_SECRET`, at least 32 bytes. */
  encryptionSecret: string | undefined;
  /** HS256 secret; `AUTH_JWT_SECRET`. */
  authJwtSecret: string | undefined;
  /** JWKS URL for RS256 tokens; `AUTH_JWKS_URL`. */
  authJwksUrl: string | undefined;
  /** Required `aud` of JWKS tokens (the Firebase project id); `AUTH_AUDIENCE`. */
  authAudience: string | undefined;
  /**
   * Required `iss` of JWKS tokens; `AUTH_ISSUER`, default
   * `https://securetoken.google.com/$AUTH_AUDIENCE` (Firebase ID tokens).
   */
  authIssuer: string | undefined;
  /** HMAC key of `fs` signed blob URLs; `BLOB_URL_SECRET`, default the JWT secret. */
  blobUrlSecret: string | undefined;
  /**
   * Base URL that `fs` signed URLs point at; `PUBLIC_BASE_URL`. Unset: the
   * address the service listens on, as `http://127.0.0.1:<port>`.
   */
  publicBaseUrl: string | undefined;
  /** Largest accepted request body; `MAX_BODY_BYTES`. */
  maxBodyBytes: number;
  /** Permits of `storage.chunk`; `LIMIT_STORAGE_CHUNK`. */
  limitStorageChunk: number;
  /** Permits of `storage.file`; `LIMIT_STORAGE_FILE`. */
  limitStorageFile: number;
  /** Merges one user may run or queue at once; `LIMIT_MERGES_PER_USER`. */
  limitMergesPerUser: number;
  /** Workers of the storage group; `WORKERS_STORAGE`. */
  workersStorage: number;
  /** Workers of the sync group; `WORKERS_SYNC`. */
  workersSync: number;
  /** Longest time `/urls` waits on a merge before answering `pending`; `URLS_BUDGET_MS`. */
  urlsBudgetMs: number;
  /** Time allowed to drain in-flight work on SIGTERM; `SHUTDOWN_GRACE_MS`. */
  shutdownGraceMs: number;
  /** Daily summaries: operators, deadline, summarizer and FCM settings. */
  notifications: NotificationConfig;
}

/** An invalid environment variable; `message` is the one line to print. */
export class ConfigError extends Error {
  /** The variable that is wrong. */
  readonly variable: string;

  /**
   * @param variable the variable's name
   * @param reason what is wrong with its value
   */
  constructor(variable: string, reason: string) {
    super(`Invalid configuration: ${variable} ${reason}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/** The original refuses secrets shorter than 32 bytes (reference section 2). */
export const MIN_ENCRYPTION_SECRET_BYTES = 32;
/** HS256 keys shorter than the hash output are weak (RFC 7518 section 3.2). */
export const MIN_JWT_SECRET_BYTES = 32;
/** Defaults from PR #7388 and #7855 of the original (reference section 7.2). */
const DEFAULT_LIMIT_STORAGE_CHUNK = 32;
const DEFAULT_LIMIT_STORAGE_FILE = 4;
/** A batch blob holds at most 60 s of PCM (1.92 MB); 4 MiB leaves room. */
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Keeps one user from taking every `storage.file` permit. */
const DEFAULT_LIMIT_MERGES_PER_USER = 4;
/** `/urls` answers `pending` rather than hold a phone for a merge. */
const DEFAULT_URLS_BUDGET_MS = 2_000;
/** The orchestrators give a container about 10 s after SIGTERM; half of it. */
const DEFAULT_SHUTDOWN_GRACE_MS = 4_500;

type Env = Record<string, string | undefined>;

/**
 * Reads and validates the configuration.
 *
 * @param env the environment, e.g. `Deno.env.toObject()`
 * @returns the configuration with defaults filled in
 * @throws {ConfigError} naming the first invalid variable
 */
export function loadConfig(env: Env): Config {
  // 0 asks the OS for a free port (tests).
  const port = intVar(env, "PORT", 8080, 0, 65_535);
  const dataDir = strVar(env, "DATA_DIR", "./data");
  const storage = enumVar(env, "STORAGE", ["fs", "gcs"] as const, "fs");
  const encryptionSecret = optionalVar(env, "ENCRYPTION_SECRET");
  if (
    encryptionSecret !== undefined &&
    new TextEncoder().encode(encryptionSecret).length <
      MIN_ENCRYPTION_SECRET_BYTES
  ) {
    throw new ConfigError(
      "ENCRYPTION_SECRET",
      `must be at least ${MIN_ENCRYPTION_SECRET_BYTES} bytes`,
    );
  }
  const authJwtSecret = optionalVar(env, "AUTH_JWT_SECRET");
  if (
    authJwtSecret !== undefined &&
    new TextEncoder().encode(authJwtSecret).length < MIN_JWT_SECRET_BYTES
  ) {
    throw new ConfigError(
      "AUTH_JWT_SECRET",
      `must be at least ${MIN_JWT_SECRET_BYTES} bytes`,
    );
  }
  const authJwksUrl = urlVar(env, "AUTH_JWKS_URL");
  const authAudience = optionalVar(env, "AUTH_AUDIENCE");
  if (authJwksUrl && !authAudience) {
    // Public key sets such as Firebase's are shared by every project: without
    // an audience, any project's tokens would be accepted here.
    throw new ConfigError(
      "AUTH_AUDIENCE",
      "must be set with AUTH_JWKS_URL (the project id tokens are issued for)",
    );
  }
  const hostname = strVar(env, "HOSTNAME", "0.0.0.0");
  const cores = navigator.hardwareConcurrency || 1;
  return {
    port,
    hostname,
    dataDir,
    storage,
    storageDir: strVar(env, "STORAGE_DIR", `${dataDir}/storage`),
    bucketPrivateCloudSync: bucketVar(
      env,
      "BUCKET_PRIVATE_CLOUD_SYNC",
      "omi-private-cloud-sync",
    ),
    bucketTemporalSyncLocal: bucketVar(
      env,
      "BUCKET_TEMPORAL_SYNC_LOCAL",
      "sync-temporal",
    ),
    encryptionSecret,
    authJwtSecret,
    authJwksUrl,
    authAudience,
    authIssuer: optionalVar(env, "AUTH_ISSUER") ??
      (authAudience
        ? `https://securetoken.google.com/${authAudience}`
        : undefined),
    blobUrlSecret: optionalVar(env, "BLOB_URL_SECRET"),
    publicBaseUrl: urlVar(env, "PUBLIC_BASE_URL"),
    maxBodyBytes: intVar(
      env,
      "MAX_BODY_BYTES",
      DEFAULT_MAX_BODY_BYTES,
      1,
      256 * 1024 * 1024,
    ),
    limitStorageChunk: intVar(
      env,
      "LIMIT_STORAGE_CHUNK",
      DEFAULT_LIMIT_STORAGE_CHUNK,
      1,
      10_000,
    ),
    limitStorageFile: intVar(
      env,
      "LIMIT_STORAGE_FILE",
      DEFAULT_LIMIT_STORAGE_FILE,
      1,
      1_000,
    ),
    limitMergesPerUser: intVar(
      env,
      "LIMIT_MERGES_PER_USER",
      DEFAULT_LIMIT_MERGES_PER_USER,
      1,
      1_000,
    ),
    workersStorage: intVar(env, "WORKERS_STORAGE", cores, 1, 256),
    workersSync: intVar(env, "WORKERS_SYNC", cores, 1, 256),
    urlsBudgetMs: intVar(
      env,
      "URLS_BUDGET_MS",
      DEFAULT_URLS_BUDGET_MS,
      0,
      60_000,
    ),
    shutdownGraceMs: intVar(
      env,
      "SHUTDOWN_GRACE_MS",
      DEFAULT_SHUTDOWN_GRACE_MS,
      0,
      60_000,
    ),
    notifications: loadNotificationConfig(env),
  };
}

function optionalVar(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

function strVar(env: Env, name: string, fallback: string): string {
  return optionalVar(env, name) ?? fallback;
}

function intVar(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = optionalVar(env, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim())) {
    throw new ConfigError(name, `must be a whole number, got "${text}"`);
  }
  const value = Number(text.trim());
  if (value < min || value > max) {
    throw new ConfigError(
      name,
      `must be from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

function enumVar<T extends string>(
  env: Env,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const text = optionalVar(env, name);
  if (text === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(text)) {
    throw new ConfigError(
      name,
      `must be one of ${allowed.join(", ")}, got "${text}"`,
    );
  }
  return text as T;
}

function urlVar(env: Env, name: string): string | undefined {
  const text = optionalVar(env, name);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(name, `must be an absolute URL, got "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(name, `must be an http(s) URL, got "${text}"`);
  }
  return text.replace(/\/+$/, "");
}

// Bucket naming rules of Cloud Storage: 3-63 lowercase letters, digits,
// dashes, underscores and dots, starting and ending with a letter or digit.
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

function bucketVar(env: Env, name: string, fallback: string): string {
  const value = strVar(env, name, fallback);
  if (!BUCKET_NAME.test(value)) {
    throw new ConfigError(
      name,
      `must be a Cloud Storage bucket name (3-63 of a-z 0-9 . _ -), got "${value}"`,
    );
  }
  return value;
}
