// A bucket laid out as the original backend wrote it (every format, an
// encrypted user, junk names, a legacy prefix) is read correctly through the
// real stores: the filesystem store, and GCS through the emulator that
// `deno task test` starts.
import { Storage } from "@google-cloud/storage";
import { generateKeyPairSync } from "node:crypto";
import { assertEquals } from "@std/assert";
import { decodeChunk } from "../lib/audio/chunk_codec.ts";
import { systemClock } from "../lib/clock.ts";
import { createDefaultLimiters } from "../lib/concurrency/limiter_registry.ts";
import { KeyRing } from "../lib/crypto/key_ring.ts";
import { ConversationRepo } from "../lib/db/conversations.ts";
import { buildAudioFiles } from "../lib/ingest/build_audio_files.ts";
import { chunkDecoder } from "../lib/merge/chunk_decoder.ts";
import { mergeAudioFile } from "../lib/merge/merge_audio_file.ts";
import { BlobSigner } from "../lib/storage/blob_signer.ts";
import { FsStore } from "../lib/storage/fs_store.ts";
import { GcsStore } from "../lib/storage/gcs_store.ts";
import { mergedKey } from "../lib/storage/keys.ts";
import type { ObjectStore } from "../lib/storage/object_store.ts";
import {
  putOriginalBatch,
  putOriginalChunk,
  referenceAssembly,
  tonePcm,
  wavOf,
} from "./audio_fixtures.ts";
import { TEST_ENCRYPTION_SECRET } from "./test_utils.ts";

const UID = "enhanced-user";
const CID = "conv-original";
const BASE = 1_717_171_717.25;

async function buildOriginalBucket(store: ObjectStore) {
  const where = (offset: number, ext: "bin" | "enc" | "opus" | "opus.enc") => ({
    uid: UID,
    cid: CID,
    ts: BASE + offset,
    ext,
  });
  const singles: Array<[number, "bin" | "enc" | "opus" | "opus.enc", number]> =
    [
      [0, "opus.enc", 5],
      [5, "opus", 5],
      [10, "enc", 5],
      [15, "bin", 4],
    ];
  for (const [offset, ext, seconds] of singles) {
    await putOriginalChunk(
      store,
      where(offset, ext),
      tonePcm(seconds, 180 + offset * 10),
    );
  }
  await putOriginalBatch(
    store,
    { uid: UID, cid: CID, first: BASE + 20, last: BASE + 25, ext: "batch.bin" },
    [tonePcm(5, 400), tonePcm(5, 420)],
  );
  await putOriginalBatch(
    store,
    { uid: UID, cid: CID, first: BASE + 30, last: BASE + 35, ext: "batch.enc" },
    [tonePcm(5, 440), tonePcm(3, 460)],
  );
  // A second recording after a gap of more than 90 s.
  await putOriginalChunk(store, where(200, "opus.enc"), tonePcm(2, 300));
  // Names the original ignores, and a legacy prefix.
  await store.put(`chunks/${UID}/${CID}/notes.txt`, new Uint8Array([1]));
  await store.put(`chunks/${UID}/${CID}/abc.opus`, new Uint8Array([1]));
  await store.put(`audio/${UID}/${CID}/legacy.wav`, new Uint8Array([1]));
}

async function checkStore(store: ObjectStore) {
  await buildOriginalBucket(store);
  const keys = new KeyRing(TEST_ENCRYPTION_SECRET);
  await using kv = await Deno.openKv(":memory:");
  const conversations = new ConversationRepo(kv);
  const { files } = await buildAudioFiles(
    { store, keys, conversations, clock: systemClock },
    { uid: UID, cid: CID },
  );
  assertEquals(files.length, 2);
  const first = files[0];
  // Every listed object, each batch once at its first timestamp.
  assertEquals(
    first.chunk_timestamps.map((t) => Math.round((t - BASE) * 1000)),
    [0, 5000, 10000, 15000, 20000, 30000],
  );
  // Last object: the 8 s batch at +30.
  assertEquals(first.duration, 30 + 8);
  assertEquals(files[1].duration, 2);

  // Expected PCM: each object decoded on its own from the store's bytes.
  const pcmAt = new Map<number, Uint8Array>();
  for (const info of await store.list(`chunks/${UID}/${CID}/`)) {
    const name = info.key.slice(info.key.lastIndexOf("/") + 1);
    const ext = ["batch.enc", "batch.bin", "opus.enc", "opus", "enc", "bin"]
      .find((e) => name.endsWith(`.${e}`));
    const stem = name.slice(0, name.length - (ext?.length ?? 0) - 1);
    const ts = Number(stem.split("-")[0]);
    if (!ext || !Number.isFinite(ts)) continue;
    const bytes = await store.getBytes(info.key);
    pcmAt.set(
      first.chunk_timestamps.find((t) => Math.abs(t - ts) < 1e-6) ?? ts,
      await decodeChunk(
        ext as never,
        bytes,
        async () => (await keys.keysFor(UID)).gcm,
      ),
    );
  }
  await mergeAudioFile({
    store,
    keys,
    limiters: createDefaultLimiters(),
    decode: chunkDecoder(keys),
    clock: systemClock,
    log: () => {},
  }, {
    uid: UID,
    cid: CID,
    fid: first.id,
    timestamps: first.chunk_timestamps,
    priority: "interactive",
  });
  const merged = await store.getBytes(mergedKey(UID, CID, first.id));
  assertEquals(merged, wavOf(referenceAssembly(first.chunk_timestamps, pcmAt)));
  const info = await store.head(mergedKey(UID, CID, first.id));
  assertEquals(info?.contentType, "audio/wav");
  assertEquals(info?.metadata.audio_file_id, first.id);
}

Deno.test("an original-layout bucket merges byte-exactly through the filesystem store", async () => {
  const root = await Deno.makeTempDir({ prefix: "original-bucket-" });
  try {
    await checkStore(
      new FsStore({
        root,
        bucket: "omi-private-cloud-sync",
        signer: new BlobSigner("original-bucket-test"),
        publicBaseUrl: "http://127.0.0.1:1",
      }),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const emulator = Deno.env.get("STORAGE_EMULATOR_HOST");

Deno.test({
  name: "an original-layout bucket merges byte-exactly through GCS (emulator)",
  ignore: !emulator,
  async fn() {
    const { privateKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const storage = new Storage({
      projectId: "demo-audiosync",
      credentials: {
        client_email: "t@demo-audiosync.iam.gserviceaccount.com",
        private_key: privateKey,
      },
      retryOptions: { autoRetry: false },
    });
    const store = new GcsStore({
      bucket: `orig-${crypto.randomUUID().slice(0, 12)}`,
      storage,
    });
    try {
      await checkStore(store);
    } finally {
      for (const { key } of await store.list("")) await store.delete(key);
    }
  },
});
