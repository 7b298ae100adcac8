/**
 * Runs the store contract, and GCS-only checks, against the Cloud Storage
 * emulator named by `STORAGE_EMULATOR_HOST` (`deno task test` starts one; by
 * hand: `deno run -A tests/gcs_emulator.ts`). Skipped when it is unset.
 *
 * The emulator does not check URL signatures, so the signed-URL test proves
 * that a V4 URL is built for the emulator and serves the object, not that a
 * wrong signature is refused.
 */
import { generateKeyPairSync } from "node:crypto";
import { Storage } from "@google-cloud/storage";
import { assert, assertEquals, assertMatch } from "@std/assert";
import { GcsStore } from "../lib/storage/gcs_store.ts";
import { storeContract } from "./store_contract.ts";

const emulatorHost = withScheme(Deno.env.get("STORAGE_EMULATOR_HOST"));
const ignore = !emulatorHost;
if (emulatorHost) {
  // The client library uses the variable verbatim as its base URL, so a bare
  // `127.0.0.1:PORT` (the form firebase tools print) needs its scheme.
  Deno.env.set("STORAGE_EMULATOR_HOST", emulatorHost);
}

function withScheme(host: string | undefined): string | undefined {
  if (!host) return undefined;
  return /^https?:\/\//.test(host) ? host : `http://${host}`;
}

/** A throwaway service account, so the client signs URLs locally. */
function testCredentials(): { client_email: string; private_key: string } {
  const { privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  return {
    client_email: "audiosync-test@demo-audiosync.iam.gserviceaccount.com",
    private_key: privateKey,
  };
}

// One client for the file: the library warns once per client about the
// `credentials` option.
const storage = ignore ? undefined : new Storage({
  projectId: "demo-audiosync",
  credentials: testCredentials(),
  retryOptions: { autoRetry: false },
});

function makeGcsStore(options: { pageSize?: number } = {}): GcsStore {
  // The emulator creates a bucket on first use; a fresh one isolates tests.
  const bucket = `test-${crypto.randomUUID().slice(0, 13)}`;
  return new GcsStore({ bucket, storage, pageSize: options.pageSize });
}

async function emptyBucket(store: GcsStore): Promise<void> {
  for (const { key } of await store.list("")) await store.delete(key);
}

storeContract("GcsStore", () => {
  const store = makeGcsStore();
  return Promise.resolve({ store, cleanup: () => emptyBucket(store) });
}, { ignore });

Deno.test({
  name: "GcsStore.list() follows page tokens across pages",
  ignore,
  async fn() {
    const store = makeGcsStore({ pageSize: 2 });
    try {
      const keys = ["p/a", "p/b", "p/c", "p/d", "p/e"];
      for (const key of [...keys].reverse()) {
        await store.put(key, new TextEncoder().encode(key));
      }
      await store.put("q/other", new Uint8Array(1));
      assertEquals((await store.list("p/")).map((o) => o.key), keys);
    } finally {
      await emptyBucket(store);
    }
  },
});

Deno.test({
  name: "GcsStore.signedUrl() returns a V4 URL on the emulator's origin",
  ignore,
  async fn() {
    const store = makeGcsStore();
    try {
      await store.put("merged/u1/c1/f.wav", new Uint8Array([1, 2, 3]));
      const url = new URL(
        await store.signedUrl("merged/u1/c1/f.wav", { ttlSeconds: 3600 }),
      );
      assertEquals(url.origin, emulatorHost);
      assertEquals(url.pathname, `/${store.bucket}/merged/u1/c1/f.wav`);
      assertEquals(
        url.searchParams.get("X-Goog-Algorithm"),
        "GOOG4-RSA-SHA256",
      );
      assertEquals(url.searchParams.get("X-Goog-Expires"), "3600");
      assertMatch(
        url.searchParams.get("X-Goog-Credential") ?? "",
        /^audiosync-test@demo-audiosync\.iam\.gserviceaccount\.com\/\d{8}\/auto\/storage\/goog4_request$/,
      );
      // 2048-bit RSA signature, hex-encoded.
      assertMatch(
        url.searchParams.get("X-Goog-Signature") ?? "",
        /^[0-9a-f]{512}$/,
      );
      const response = await fetch(url);
      assert(response.ok, `signed URL answered ${response.status}`);
      assertEquals(
        new Uint8Array(await response.arrayBuffer()),
        new Uint8Array([1, 2, 3]),
      );
    } finally {
      await emptyBucket(store);
    }
  },
});
