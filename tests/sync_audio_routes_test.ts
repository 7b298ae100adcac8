// The ingest, conversation and sync audio routes through app.request().
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { decodeChunk } from "../lib/audio/chunk_codec.ts";
import { parseWavHeader } from "../lib/audio/wav.ts";
import { ConversationRepo } from "../lib/db/conversations.ts";
import { mergedKey } from "../lib/storage/keys.ts";
import type { MemoryStore } from "../lib/storage/memory_store.ts";
import { TransientStorageError } from "../lib/storage/object_store.ts";
import { noisePcm, putOriginalChunk, tonePcm } from "./audio_fixtures.ts";
import {
  authHeader,
  makeTestApp,
  type TestApp,
  testConfig,
} from "./test_utils.ts";

const BASE = 1_717_171_717.5;

async function put(t: TestApp, uid: string, path: string, body: Uint8Array) {
  return await t.app.request(path, {
    method: "PUT",
    headers: {
      ...(await authHeader(uid)),
      "Content-Type": "application/octet-stream",
    },
    body: body as Uint8Array<ArrayBuffer>,
  });
}

async function call(
  t: TestApp,
  uid: string,
  method: string,
  path: string,
  init: RequestInit = {},
) {
  return await t.app.request(path, {
    ...init,
    method,
    headers: { ...(await authHeader(uid)), ...(init.headers ?? {}) },
  });
}

function storeOf(t: TestApp): MemoryStore {
  return t.deps.store as MemoryStore;
}

Deno.test("PUT chunk rejects bad input with a 400 detail and stores nothing", async () => {
  await using t = await makeTestApp();
  const pcm = noisePcm(640, 1);
  const cases: Array<[string, Uint8Array, string]> = [
    [`/v1/sync/audio/c1/chunks/abc`, pcm, "timestamp"],
    [`/v1/sync/audio/c1/chunks/1e9`, pcm, "timestamp"],
    [`/v1/sync/audio/c1/chunks/-1717171717`, pcm, "timestamp"],
    [`/v1/sync/audio/c1/chunks/99999999999`, pcm, "timestamp"],
    [`/v1/sync/audio/c1/chunks/NaN`, pcm, "timestamp"],
    [`/v1/sync/audio/c1/chunks/${BASE}`, new Uint8Array(0), "empty"],
    [`/v1/sync/audio/c1/chunks/${BASE}`, new Uint8Array(641), "odd"],
    [`/v1/sync/audio/..%2F..%2Fetc/chunks/${BASE}`, pcm, "conversation_id"],
    [`/v1/sync/audio/%20/chunks/${BASE}`, pcm, "conversation_id"],
  ];
  for (const [path, body, reason] of cases) {
    const res = await put(t, "u1", path, body);
    assertEquals(res.status, 400, path);
    const { detail } = await res.json();
    assertStringIncludes(detail.toLowerCase(), reason.toLowerCase(), path);
  }
  assertEquals(await t.deps.store.list(""), []);
});

Deno.test("PUT chunk stores .opus with its PCM length; a re-upload as enhanced replaces it with .opus.enc", async () => {
  await using t = await makeTestApp();
  const pcm = tonePcm(1);
  const res = await put(t, "u1", `/v1/sync/audio/c1/chunks/${BASE}`, pcm);
  assertEquals(res.status, 201);
  assertEquals((await res.json()).key, `chunks/u1/c1/${"1717171717.500"}.opus`);
  const listed = await t.deps.store.list("chunks/u1/c1/");
  assertEquals(listed.map((o) => o.key), ["chunks/u1/c1/1717171717.500.opus"]);
  assertEquals(listed[0].metadata.pcm_bytes, String(pcm.length));

  const settings = await call(t, "u1", "PUT", "/v1/users/me/settings", {
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ data_protection_level: "enhanced" }),
  });
  assertEquals(await settings.json(), { data_protection_level: "enhanced" });
  assertEquals(
    (await put(t, "u1", `/v1/sync/audio/c1/chunks/${BASE}`, pcm)).status,
    201,
  );
  const after = await t.deps.store.list("chunks/u1/c1/");
  assertEquals(after.map((o) => o.key), [
    "chunks/u1/c1/1717171717.500.opus.enc",
  ]);
  const keys = await t.deps.keys.keysFor("u1");
  const decoded = await decodeChunk(
    "opus.enc",
    await t.deps.store.getBytes(after[0].key),
    () => Promise.resolve(keys.gcm),
  );
  assertEquals(decoded.length, pcm.length);
});

Deno.test("PUT settings rejects an unknown level with 422 and keeps the old one", async () => {
  await using t = await makeTestApp();
  const bad = await call(t, "u1", "PUT", "/v1/users/me/settings", {
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ data_protection_level: "e2ee" }),
  });
  assertEquals(bad.status, 422);
  assertStringIncludes((await bad.json()).detail, "data_protection_level");
  const notJson = await call(t, "u1", "PUT", "/v1/users/me/settings", {
    headers: { "Content-Type": "application/json" },
    body: "{",
  });
  assertEquals(notJson.status, 400);
  const got = await call(t, "u1", "GET", "/v1/users/me/settings");
  assertEquals(await got.json(), { data_protection_level: "standard" });
});

Deno.test("PUT settings refuses enhanced with 409 when no ENCRYPTION_SECRET is configured", async () => {
  await using t = await makeTestApp({
    config: testConfig({ ENCRYPTION_SECRET: "" }),
  });
  const res = await call(t, "u1", "PUT", "/v1/users/me/settings", {
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ data_protection_level: "enhanced" }),
  });
  assertEquals(res.status, 409);
  assertStringIncludes((await res.json()).detail, "ENCRYPTION_SECRET");
});

Deno.test("PUT batch stores .batch.bin, or one encrypted frame per chunk for enhanced users, and validates its range", async () => {
  await using t = await makeTestApp();
  const pcm = noisePcm(3200, 3);
  const ok = await put(
    t,
    "u1",
    `/v1/sync/audio/c1/batches/${BASE}-${BASE + 10}`,
    pcm,
  );
  assertEquals(ok.status, 201);
  assertEquals(
    (await ok.json()).key,
    "chunks/u1/c1/1717171717.500-1717171727.500.batch.bin",
  );
  for (
    const [path, reason] of [
      [`/v1/sync/audio/c1/batches/${BASE + 10}-${BASE}`, "ends before"],
      [`/v1/sync/audio/c1/batches/${BASE}`, "{first}-{last}"],
      [`/v1/sync/audio/c1/batches/${BASE}-${BASE + 500}`, "at most"],
      [
        `/v1/sync/audio/c1/batches/${BASE}-${BASE + 1}?chunk_bytes=1000,1000`,
        "add up",
      ],
      [
        `/v1/sync/audio/c1/batches/${BASE}-${BASE + 1}?chunk_bytes=3,x`,
        "chunk_bytes",
      ],
    ]
  ) {
    const res = await put(t, "u1", path, pcm);
    assertEquals(res.status, 400, path);
    assertStringIncludes((await res.json()).detail, reason);
  }
  assertEquals((await t.deps.store.list("chunks/")).length, 1);
});

async function seedConversation(t: TestApp, uid: string, cid: string) {
  // Two files: 3 chunks, then a gap of 100 s, then 2 chunks; one legacy
  // .bin chunk written the original's way, the rest uploaded.
  const offsets = [0, 5, 10, 110, 115];
  const pcms = offsets.map((_, i) => tonePcm(i === 2 ? 2.5 : 5, 200 + 30 * i));
  for (const [i, offset] of offsets.entries()) {
    if (i === 1) {
      await putOriginalChunk(t.deps.store, {
        uid,
        cid,
        ts: BASE + offset,
        ext: "bin",
      }, pcms[i]);
    } else {
      const res = await put(
        t,
        uid,
        `/v1/sync/audio/${cid}/chunks/${BASE + offset}`,
        pcms[i],
      );
      assertEquals(res.status, 201);
    }
  }
  const res = await call(
    t,
    uid,
    "POST",
    `/v1/conversations/${cid}/audio-files`,
  );
  assertEquals(res.status, 200);
  return { offsets, pcms, body: await res.json() };
}

Deno.test("POST audio-files groups chunks on gaps over 90 s with exact durations and keeps ids of unchanged files", async () => {
  await using t = await makeTestApp();
  const { body } = await seedConversation(t, "u1", "c1");
  const files = body.audio_files;
  assertEquals(files.length, 2);
  assertEquals(files[0].chunk_timestamps, [BASE, BASE + 5, BASE + 10]);
  // 10 s to the last start plus that chunk's 2.5 s of PCM.
  assertEquals(files[0].duration, 12.5);
  assertEquals(files[1].duration, 10);
  assertEquals(files[0].provider, "gcp");
  assertEquals(files[0].started_at, new Date(BASE * 1000).toISOString());

  // A new chunk extends the second file only.
  await put(t, "u1", `/v1/sync/audio/c1/chunks/${BASE + 120}`, tonePcm(1));
  const again =
    await (await call(t, "u1", "POST", "/v1/conversations/c1/audio-files"))
      .json();
  assertEquals(again.audio_files[0].id, files[0].id);
  assert(again.audio_files[1].id !== files[1].id);
  const conversation =
    await (await call(t, "u1", "GET", "/v1/conversations/c1")).json();
  assertEquals(
    conversation.audio_files.map((f: { id: string }) => f.id),
    again.audio_files.map((f: { id: string }) => f.id),
  );
  assertEquals(
    (await call(t, "u2", "GET", "/v1/conversations/c1")).status,
    404,
  );
});

Deno.test("GET the merged audio serves the WAV, Range as 206, bad ranges as 416, pcm from byte 44", async () => {
  await using t = await makeTestApp();
  const { body } = await seedConversation(t, "u1", "c1");
  await t.deps.mergedAudio.idle();
  const fid = body.audio_files[0].id;
  const res = await call(t, "u1", "GET", `/v1/sync/audio/c1/${fid}`);
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "audio/wav");
  assertEquals(res.headers.get("accept-ranges"), "bytes");
  assertEquals(
    res.headers.get("content-disposition"),
    `attachment; filename=conversation_c1_audio_${fid}.wav`,
  );
  const wav = new Uint8Array(await res.arrayBuffer());
  assertEquals(res.headers.get("content-length"), String(wav.length));
  const header = parseWavHeader(wav);
  assertEquals(header.dataBytes, wav.length - 44);
  // 12.5 s of contiguous audio.
  assertEquals(header.dataBytes, 12.5 * 32000);

  const partial = await call(t, "u1", "GET", `/v1/sync/audio/c1/${fid}`, {
    headers: { Range: "bytes=44-143" },
  });
  assertEquals(partial.status, 206);
  assertEquals(
    partial.headers.get("content-range"),
    `bytes 44-143/${wav.length}`,
  );
  assertEquals(
    new Uint8Array(await partial.arrayBuffer()),
    wav.subarray(44, 144),
  );

  const pcm = await call(
    t,
    "u1",
    "GET",
    `/v1/sync/audio/c1/${fid}?format=pcm`,
    { headers: { Range: "bytes=-100" } },
  );
  assertEquals(pcm.status, 206);
  assertEquals(
    new Uint8Array(await pcm.arrayBuffer()),
    wav.subarray(wav.length - 100),
  );
  assertEquals(pcm.headers.get("content-type"), "application/octet-stream");

  const bad = await call(t, "u1", "GET", `/v1/sync/audio/c1/${fid}`, {
    headers: { Range: "bytes=0-1,4-5" },
  });
  assertEquals(bad.status, 416);
  assertEquals(bad.headers.get("content-range"), `bytes */${wav.length}`);
  await bad.body?.cancel();

  const mp3 = await call(t, "u1", "GET", `/v1/sync/audio/c1/${fid}?format=mp3`);
  assertEquals(mp3.status, 422);
  await mp3.body?.cancel();
  const other = await call(t, "u2", "GET", `/v1/sync/audio/c1/${fid}`);
  assertEquals([other.status, (await other.json()).detail], [
    404,
    "Conversation not found",
  ]);
  const unknown = await call(t, "u1", "GET", `/v1/sync/audio/c1/no-such-file`);
  assertEquals([unknown.status, (await unknown.json()).detail], [
    404,
    "Audio file not found in conversation",
  ]);
});

Deno.test("a locked conversation answers 402 on precache, urls and download", async () => {
  await using t = await makeTestApp();
  const { body } = await seedConversation(t, "u1", "c1");
  await t.deps.mergedAudio.idle();
  const repo = new ConversationRepo(t.deps.kv);
  await repo.put({ ...(await repo.get("u1", "c1"))!, is_locked: true });
  for (
    const [method, path] of [
      ["POST", "/v1/sync/audio/c1/precache"],
      ["GET", "/v1/sync/audio/c1/urls"],
      ["GET", `/v1/sync/audio/c1/${body.audio_files[0].id}`],
    ]
  ) {
    const res = await call(t, "u1", method, path);
    assertEquals(res.status, 402, path);
    assertEquals(
      (await res.json()).detail,
      "A paid plan is required to access this conversation.",
    );
  }
});

Deno.test("precache merges in the background; /urls then hands out signed URLs that the blob route serves", async () => {
  await using t = await makeTestApp();
  const { body } = await seedConversation(t, "u1", "c1");
  await t.deps.mergedAudio.idle();
  // The audio-files route started precache already; the route says so too.
  const precache = await call(t, "u1", "POST", "/v1/sync/audio/c1/precache");
  assertEquals(await precache.json(), {
    status: "started",
    audio_file_count: 2,
  });
  await t.deps.mergedAudio.idle();
  const urls = await (await call(t, "u1", "GET", "/v1/sync/audio/c1/urls"))
    .json();
  assertEquals(urls.audio_files.map((f: { status: string }) => f.status), [
    "cached",
    "cached",
  ]);
  assertEquals(urls.audio_files[0].duration, 12.5);
  const signed = new URL(urls.audio_files[0].signed_url);
  const blob = await t.app.request(signed.pathname + signed.search);
  assertEquals(blob.status, 200);
  const cached = await t.deps.store.getBytes(
    mergedKey("u1", "c1", body.audio_files[0].id),
  );
  assertEquals(new Uint8Array(await blob.arrayBuffer()), cached);
  const forged = await t.app.request(
    signed.pathname +
      // Change the signature's first hex digit, whatever it is.
      signed.search.replace(
        /sig=(.)/,
        (_, d) => `sig=${d === "0" ? "1" : "0"}`,
      ),
  );
  assertEquals(forged.status, 403);
  await forged.body?.cancel();
  const none =
    await (await call(t, "u1", "POST", "/v1/sync/audio/c-empty/precache"))
      .json();
  assertEquals(none.detail, "Conversation not found");
});

Deno.test("/urls answers pending within its budget while the merge goes on, and never merges twice", async () => {
  await using t = await makeTestApp({
    config: testConfig({ URLS_BUDGET_MS: "0" }),
  });
  const store = storeOf(t);
  await putOriginalChunk(
    store,
    { uid: "u1", cid: "c1", ts: BASE, ext: "bin" },
    noisePcm(3200, 1),
  );
  const gate = Promise.withResolvers<void>();
  const created =
    await (await call(t, "u1", "POST", "/v1/conversations/c1/audio-files"))
      .json();
  store.onGet = (key) =>
    key.startsWith("chunks/") ? gate.promise : Promise.resolve();
  const urls = await (await call(t, "u1", "GET", "/v1/sync/audio/c1/urls"))
    .json();
  assertEquals(urls.audio_files[0].status, "pending");
  assertEquals(urls.audio_files[0].signed_url, null);
  // A download joins the merge already running instead of starting another.
  const download = call(
    t,
    "u1",
    "GET",
    `/v1/sync/audio/c1/${created.audio_files[0].id}`,
  );
  gate.resolve();
  const res = await download;
  assertEquals(res.status, 200);
  assertEquals((await res.arrayBuffer()).byteLength, 44 + 3200);
  await t.deps.mergedAudio.idle();
  assertEquals(
    store.count("put", mergedKey("u1", "c1", created.audio_files[0].id)),
    1,
  );
});

Deno.test("a download of a file whose chunks are all gone answers 404 Audio chunks not found in storage", async () => {
  await using t = await makeTestApp();
  const { body } = await seedConversation(t, "u1", "c1");
  await t.deps.mergedAudio.idle();
  await t.deps.store.deletePrefix("chunks/u1/c1/");
  await t.deps.store.deletePrefix("merged/u1/c1/");
  const res = await call(
    t,
    "u1",
    "GET",
    `/v1/sync/audio/c1/${body.audio_files[0].id}`,
  );
  assertEquals(res.status, 404);
  assertEquals((await res.json()).detail, "Audio chunks not found in storage");
});

Deno.test("a download of a file without chunk timestamps answers 500 Failed to download audio file", async () => {
  await using t = await makeTestApp();
  const repo = new ConversationRepo(t.deps.kv);
  await repo.getOrCreate("u1", "c1", new Date());
  const snapshot = await repo.snapshot("u1", "c1");
  await repo.commitAudioFiles(snapshot!, [{
    fingerprint: "",
    file: {
      id: "f-empty",
      uid: "u1",
      conversation_id: "c1",
      chunk_timestamps: [],
      provider: "gcp",
      started_at: null,
      duration: 0,
    },
  }]);
  const res = await call(t, "u1", "GET", "/v1/sync/audio/c1/f-empty");
  assertEquals(res.status, 500);
  assertEquals((await res.json()).detail, "Failed to download audio file");
});

Deno.test("a failed cache write answers 503 with Retry-After and the next request merges again", async () => {
  await using t = await makeTestApp();
  const store = storeOf(t);
  await putOriginalChunk(
    store,
    { uid: "u1", cid: "c1", ts: BASE, ext: "bin" },
    noisePcm(3200, 4),
  );
  const created =
    await (await call(t, "u1", "POST", "/v1/conversations/c1/audio-files"))
      .json();
  await t.deps.mergedAudio.idle();
  const fid = created.audio_files[0].id;
  await store.deletePrefix("merged/");
  store.failNext(
    (c) => c.op === "put" && c.key.startsWith("merged/"),
    new TransientStorageError("503 from storage", { cause: null }),
  );
  const failed = await call(t, "u1", "GET", `/v1/sync/audio/c1/${fid}`);
  assertEquals(failed.status, 503);
  assert(failed.headers.get("retry-after"));
  await failed.body?.cancel();
  assertEquals(await store.head(mergedKey("u1", "c1", fid)), null);
  const retried = await call(t, "u1", "GET", `/v1/sync/audio/c1/${fid}`);
  assertEquals(retried.status, 200);
  assertEquals((await retried.arrayBuffer()).byteLength, 44 + 3200);
});
