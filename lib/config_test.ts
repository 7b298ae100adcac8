import { assertEquals, assertThrows } from "@std/assert";
import { ConfigError, loadConfig } from "./config.ts";

Deno.test("loadConfig() fills every default from an empty environment", () => {
  const config = loadConfig({});
  assertEquals(config.port, 8080);
  assertEquals(config.dataDir, "./data");
  assertEquals(config.storage, "fs");
  assertEquals(config.storageDir, "./data/storage");
  assertEquals(config.bucketPrivateCloudSync, "omi-private-cloud-sync");
  assertEquals(config.limitStorageChunk, 32);
  assertEquals(config.limitStorageFile, 4);
  assertEquals(config.encryptionSecret, undefined);
});

Deno.test("loadConfig() reads each variable it is given", () => {
  const config = loadConfig({
    PORT: "9000",
    DATA_DIR: "/srv/a",
    STORAGE: "gcs",
    BUCKET_PRIVATE_CLOUD_SYNC: "my-bucket",
    LIMIT_STORAGE_CHUNK: "64",
    PUBLIC_BASE_URL: "https://audio.example.com/",
  });
  assertEquals(config.port, 9000);
  assertEquals(config.storageDir, "/srv/a/storage");
  assertEquals(config.storage, "gcs");
  assertEquals(config.bucketPrivateCloudSync, "my-bucket");
  assertEquals(config.limitStorageChunk, 64);
  assertEquals(config.publicBaseUrl, "https://audio.example.com");
});

const invalid: Array<[Record<string, string>, string, string]> = [
  [{ PORT: "http" }, "PORT", "whole number"],
  [{ PORT: "70000" }, "PORT", "from 0 to 65535"],
  [{ STORAGE: "s3" }, "STORAGE", "one of fs, gcs"],
  [{ ENCRYPTION_SECRET: "short" }, "ENCRYPTION_SECRET", "at least 32 bytes"],
  [{ AUTH_JWT_SECRET: "short" }, "AUTH_JWT_SECRET", "at least 32 bytes"],
  [{ AUTH_JWKS_URL: "not a url" }, "AUTH_JWKS_URL", "absolute URL"],
  [{ AUTH_JWKS_URL: "ftp://x/y" }, "AUTH_JWKS_URL", "http(s)"],
  [
    { AUTH_JWKS_URL: "https://keys.example.com/jwks" },
    "AUTH_AUDIENCE",
    "must be set with AUTH_JWKS_URL",
  ],
  [
    { BUCKET_PRIVATE_CLOUD_SYNC: "Bad_Bucket" },
    "BUCKET_PRIVATE_CLOUD_SYNC",
    "bucket name",
  ],
  [{ LIMIT_STORAGE_CHUNK: "0" }, "LIMIT_STORAGE_CHUNK", "from 1"],
  [{ WORKERS_STORAGE: "-1" }, "WORKERS_STORAGE", "whole number"],
];

for (const [env, variable, reason] of invalid) {
  Deno.test(`loadConfig() rejects ${variable}=${Object.values(env)[0]} naming the variable`, () => {
    const error = assertThrows(() => loadConfig(env), ConfigError);
    assertEquals(error.variable, variable);
    assertEquals(error.message.split("\n").length, 1);
    assertEquals(
      error.message.startsWith(`Invalid configuration: ${variable} `),
      true,
    );
    assertEquals(error.message.includes(reason), true, error.message);
  });
}

Deno.test("loadConfig() counts ENCRYPTION_SECRET in UTF-8 bytes, not characters", () => {
  // 16 two-byte characters are 32 bytes: accepted, as in the original.
  assertEquals(
    loadConfig({ ENCRYPTION_SECRET: "é".repeat(16) }).encryptionSecret,
    "é".repeat(16),
  );
  assertThrows(
    () => loadConfig({ ENCRYPTION_SECRET: "é".repeat(15) }),
    ConfigError,
  );
});

Deno.test("loadConfig() expects Firebase's issuer for the audience unless AUTH_ISSUER says otherwise", () => {
  const jwks =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
  assertEquals(
    loadConfig({ AUTH_JWKS_URL: jwks, AUTH_AUDIENCE: "omi-prod" }).authIssuer,
    "https://securetoken.google.com/omi-prod",
  );
  assertEquals(
    loadConfig({
      AUTH_JWKS_URL: jwks,
      AUTH_AUDIENCE: "a",
      AUTH_ISSUER: "https://issuer.example",
    }).authIssuer,
    "https://issuer.example",
  );
});
