import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import type { Clock } from "../clock.ts";
import { createDefaultLimiters } from "../concurrency/limiter_registry.ts";
import { PerKeyCapError } from "../concurrency/semaphore.ts";
import { KeyRing } from "../crypto/key_ring.ts";
import type { AudioFile } from "../db/conversations.ts";
import { mergedKey } from "../storage/keys.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import type { ObjectInfo } from "../storage/object_store.ts";
import { noisePcm, putOriginalChunk } from "../../tests/audio_fixtures.ts";
import { chunkDecoder } from "./chunk_decoder.ts";
import { isFresh, MergedAudio } from "./merged_audio.ts";

const BASE = 1_717_171_717;

function info(metadata: Record<string, string>): ObjectInfo {
  return {
    key: "k",
    size: 1,
    generation: "1",
    contentType: "audio/wav",
    metadata,
    updated: new Date(0),
  };
}

Deno.test("isFresh() needs a parseable expires_at in the future, in either UTC form", () => {
  const now = Date.parse("2026-05-22T10:00:00Z");
  assertEquals(isFresh(null, now), false);
  assertEquals(isFresh(info({}), now), false);
  assertEquals(isFresh(info({ expires_at: "soon" }), now), false);
  assertEquals(
    isFresh(info({ expires_at: "2026-05-22T09:59:59Z" }), now),
    false,
  );
  assertEquals(
    isFresh(info({ expires_at: "2026-05-22T10:11:12.123456+00:00" }), now),
    true,
  );
  assertEquals(
    isFresh(info({ expires_at: "2026-05-23T10:00:00.5Z" }), now),
    true,
  );
  // A cache object cut short (written without a flush before a power cut)
  // disagrees with its own PCM length and is a miss.
  const future = "2026-05-23T10:00:00Z";
  const whole = {
    ...info({ expires_at: future, pcm_bytes: "100" }),
    size: 144,
  };
  assertEquals(isFresh(whole, now), true);
  assertEquals(isFresh({ ...whole, size: 44 }, now), false);
});

class ManualClock implements Clock {
  constructor(public ms: number) {}
  now = () => this.ms;
  sleep = () => Promise.resolve();
  random = () => 0.5;
}

function setup(options: { filePermits?: number; perUser?: number } = {}) {
  const clock = new ManualClock(Date.parse("2026-05-22T10:00:00Z"));
  const store = new MemoryStore({ bucket: "b", now: clock.now });
  const keys = new KeyRing("merged-audio-test-secret-0123456789ab");
  const limiters = createDefaultLimiters({
    "storage.file": {
      permits: options.filePermits ?? 4,
      perKeyCap: options.perUser,
    },
  });
  const logs: Record<string, unknown>[] = [];
  const merged = new MergedAudio({
    store,
    keys,
    limiters,
    decode: chunkDecoder(keys),
    clock,
    log: (e) => logs.push(e),
  });
  return { store, clock, limiters, merged, logs };
}

async function file(
  store: MemoryStore,
  uid: string,
  cid: string,
  id: string,
): Promise<AudioFile> {
  await putOriginalChunk(
    store,
    { uid, cid, ts: BASE, ext: "bin" },
    noisePcm(640, id.length),
  );
  return {
    id,
    uid,
    conversation_id: cid,
    chunk_timestamps: [BASE],
    provider: "gcp",
    started_at: null,
    duration: 0.02,
  };
}

Deno.test("MergedAudio.ensure() merges once for concurrent callers and serves the fresh cache afterwards", async () => {
  const { store, merged } = await setup();
  const f = await file(store, "u", "c", "f1");
  const results = await Promise.all(
    [1, 2, 3].map(() =>
      merged.ensure({ uid: "u", cid: "c", file: f, priority: "interactive" })
    ),
  );
  assertEquals(new Set(results.map((r) => r.generation)).size, 1);
  assertEquals(store.count("list"), 1);
  assertEquals(store.count("put", mergedKey("u", "c", "f1")), 1);
  await merged.ensure({ uid: "u", cid: "c", file: f, priority: "interactive" });
  assertEquals(
    store.count("list"),
    1,
    "a fresh cache is served without merging",
  );
});

Deno.test("MergedAudio.ensure() merges again once the cache's 3 days are over", async () => {
  const { store, clock, merged } = await setup();
  const f = await file(store, "u", "c", "f1");
  await merged.ensure({ uid: "u", cid: "c", file: f, priority: "interactive" });
  clock.ms += 3 * 86_400_000 + 1;
  await merged.ensure({ uid: "u", cid: "c", file: f, priority: "interactive" });
  assertEquals(store.count("put", mergedKey("u", "c", "f1")), 2);
});

Deno.test("an interactive caller joining a queued precache merge moves it ahead of other precache", async () => {
  const { store, limiters, merged } = await setup({ filePermits: 1 });
  const a = await file(store, "u", "ca", "fa");
  const b = await file(store, "u", "cb", "fb");
  const blocker = await limiters.get("storage.file").acquire();
  merged.precache("u", "ca", [a]);
  merged.precache("u", "cb", [b]);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(limiters.get("storage.file").waitingAt("background"), 2);
  const interactive = merged.ensure({
    uid: "u",
    cid: "cb",
    file: b,
    priority: "interactive",
  });
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(limiters.get("storage.file").waitingAt("interactive"), 1);
  assertEquals(limiters.get("storage.file").waitingAt("background"), 1);
  blocker.release();
  await interactive;
  await merged.idle();
  const lists = store.calls.filter((c) => c.op === "list").map((c) => c.key);
  assertEquals(lists, ["chunks/u/cb/", "chunks/u/ca/"]);
  assertEquals(
    store.count("list", "chunks/u/cb/"),
    1,
    "the joined merge ran once",
  );
});

Deno.test("one user's merges beyond the per-user cap answer 429 while another user's proceed", async () => {
  const { store, merged } = await setup({ perUser: 1 });
  const gate = Promise.withResolvers<void>();
  store.onGet = (key) =>
    key.startsWith("chunks/u/") ? gate.promise : Promise.resolve();
  const a = await file(store, "u", "c1", "f1");
  const b = await file(store, "u", "c2", "f2");
  const other = await file(store, "v", "c3", "f3");
  const first = merged.ensure({
    uid: "u",
    cid: "c1",
    file: a,
    priority: "interactive",
  });
  await new Promise((r) => setTimeout(r, 0));
  const error = await assertRejects(
    () =>
      merged.ensure({ uid: "u", cid: "c2", file: b, priority: "interactive" }),
    PerKeyCapError,
  );
  assertEquals(error.status, 429);
  await merged.ensure({
    uid: "v",
    cid: "c3",
    file: other,
    priority: "interactive",
  });
  gate.resolve();
  await first;
});

Deno.test("MergedAudio.signedUrl() is null until cached, reuses a URL for half its life, and drops it with the cache", async () => {
  const { store, clock, merged } = await setup();
  const f = await file(store, "u", "c", "f1");
  assertEquals(await merged.signedUrl("u", "c", "f1"), null);
  await merged.ensure({ uid: "u", cid: "c", file: f, priority: "interactive" });
  const url = await merged.signedUrl("u", "c", "f1");
  assert(url);
  clock.ms += 29 * 60_000;
  assertEquals(await merged.signedUrl("u", "c", "f1"), url);
  clock.ms += 2 * 60_000;
  const fresh = await merged.signedUrl("u", "c", "f1");
  assert(fresh);
  assertNotEquals(fresh, url);
  await store.delete(mergedKey("u", "c", "f1"));
  assertEquals(await merged.signedUrl("u", "c", "f1"), null);
});

Deno.test("precache logs a failure instead of throwing, and skips files without chunks", async () => {
  const { store, merged, logs } = await setup();
  const f = await file(store, "u", "c", "f1");
  const empty = { ...f, id: "f0", chunk_timestamps: [] };
  const missing = { ...f, id: "f2", chunk_timestamps: [BASE + 500] };
  assertEquals(merged.precache("u", "c", [empty, missing]), 1);
  await merged.idle();
  assertEquals(
    logs.filter((l) => l.msg === "background merge failed").map((l) =>
      l.audio_file_id
    ),
    ["f2"],
  );
});

Deno.test("a user's own precache never makes that user's download answer 429, and queues one file at a time", async () => {
  const { store, limiters, merged } = await setup({
    filePermits: 1,
    perUser: 1,
  });
  const files = [];
  for (const id of ["f1", "f2", "f3", "f4"]) {
    files.push(await file(store, "u", `c-${id}`, id));
  }
  const blocker = await limiters.get("storage.file").acquire();
  for (const f of files) merged.precache("u", f.conversation_id, [f]);
  const many = await file(store, "u", "c-many", "g1");
  const extra = [{ ...many, id: "g2" }, { ...many, id: "g3" }];
  merged.precache("u", "c-many", [many, ...extra]);
  await new Promise((r) => setTimeout(r, 0));
  // Four single-file calls and one three-file call: one waiter each.
  assertEquals(limiters.get("storage.file").waitingAt("background"), 5);
  const download = merged.ensure({
    uid: "u",
    cid: "c-f4",
    file: files[3],
    priority: "interactive",
  });
  blocker.release();
  await download;
  await merged.idle();
  assertEquals(store.count("put", mergedKey("u", "c-many", "g3")), 1);
});
