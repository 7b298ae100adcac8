import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertLessOrEqual,
  assertRejects,
} from "@std/assert";
import { decodeChunk } from "../audio/chunk_codec.ts";
import type { Clock } from "../clock.ts";
import { createDefaultLimiters } from "../concurrency/limiter_registry.ts";
import { KeyRing } from "../crypto/key_ring.ts";
import { OverloadedError } from "../http_error.ts";
import { type ChunkExt, mergedKey } from "../storage/keys.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import {
  type ObjectStore,
  type PutOptions,
  TransientStorageError,
} from "../storage/object_store.ts";
import { concatBytes } from "../bytes.ts";
import { wrapStore } from "../../tests/wrap_store.ts";
import {
  noisePcm,
  originalObject,
  putOriginalBatch,
  putOriginalChunk,
  referenceAssembly,
  tonePcm,
  wavOf,
} from "../../tests/audio_fixtures.ts";
import { TEST_ENCRYPTION_SECRET } from "../../tests/test_utils.ts";
import { chunkDecoder } from "./chunk_decoder.ts";
import {
  MERGE_WINDOW,
  mergeAudioFile,
  type MergeDeps,
  NoChunksError,
  pythonIsoUtc,
} from "./merge_audio_file.ts";

const UID = "user-1";
const CID = "conv-1";
const FID = "file-1";
const BASE = 1_717_171_717.12;
const NOW = Date.UTC(2026, 4, 22, 10, 11, 12);

const fixedClock: Clock = {
  now: () => NOW,
  sleep: () => Promise.resolve(),
  random: () => 0.5,
};

function makeDeps(store: ObjectStore, overrides: Partial<MergeDeps> = {}) {
  const logs: Record<string, unknown>[] = [];
  const keys = new KeyRing(TEST_ENCRYPTION_SECRET);
  const deps: MergeDeps = {
    store,
    keys,
    limiters: createDefaultLimiters(),
    decode: chunkDecoder(keys),
    clock: fixedClock,
    log: (entry) => logs.push(entry),
    ...overrides,
  };
  return { deps, logs };
}

Deno.test("mergeAudioFile() reproduces the original's bytes: leading silence, gaps, overlaps, duplicates, odd bytes, batches", async () => {
  const store = new MemoryStore();
  const { deps } = makeDeps(store);
  const t = (d: number) => BASE + d;
  const pcm1 = noisePcm(160_000, 1); // 5 s at +5
  const pcm2 = noisePcm(144_001, 2); // 4.5 s and one odd byte at +10
  const pcm3 = noisePcm(160_000, 3); // 5 s at +16.25: gap after pcm2
  const pcm4 = noisePcm(64_000, 4); // 2 s at +20: overlaps pcm3
  const batch = [
    noisePcm(160_000, 5),
    noisePcm(160_000, 6),
    noisePcm(96_000, 7),
  ];
  await putOriginalChunk(
    store,
    { uid: UID, cid: CID, ts: t(5), ext: "bin" },
    pcm1,
  );
  await putOriginalChunk(
    store,
    { uid: UID, cid: CID, ts: t(10), ext: "bin" },
    pcm2,
  );
  await putOriginalChunk(store, {
    uid: UID,
    cid: CID,
    ts: t(16.25),
    ext: "bin",
  }, pcm3);
  await putOriginalChunk(
    store,
    { uid: UID, cid: CID, ts: t(20), ext: "bin" },
    pcm4,
  );
  await putOriginalBatch(store, {
    uid: UID,
    cid: CID,
    first: t(30),
    last: t(40),
    ext: "batch.bin",
  }, batch);
  // Inside the batch: covered, so never fetched on its own.
  const covered = await putOriginalChunk(store, {
    uid: UID,
    cid: CID,
    ts: t(35),
    ext: "bin",
  }, noisePcm(10, 9));

  // +0 has no object: leading silence. +16.25 is requested twice.
  const requested = [
    t(0),
    t(5),
    t(10),
    t(16.25),
    t(16.25),
    t(20),
    t(30),
    t(35),
    t(40),
  ];
  const result = await mergeAudioFile(deps, {
    uid: UID,
    cid: CID,
    fid: FID,
    timestamps: requested,
    priority: "interactive",
  });

  const expected = referenceAssembly(
    requested,
    new Map([
      [t(5), pcm1],
      [t(10), pcm2.subarray(0, 144_000)],
      [t(16.25), pcm3],
      [t(20), pcm4],
      [t(30), new Uint8Array([...batch[0], ...batch[1], ...batch[2]])],
    ]),
  );
  const cached = await store.getBytes(mergedKey(UID, CID, FID));
  assertEquals(cached.length, 44 + expected.length);
  assertEquals(cached, wavOf(expected));
  assertEquals(result.pcmBytes, expected.length);
  assertEquals(result.info.contentType, "audio/wav");
  assertEquals(result.info.metadata.audio_file_id, FID);
  assertEquals(result.info.metadata.expires_at, "2026-05-25T10:11:12+00:00");
  // One listing and exactly one GET per object used; none for the covered chunk.
  assertEquals(store.count("list"), 1);
  const chunkReads = store.calls.filter((c) =>
    c.op === "getBytes" && c.key.startsWith("chunks/")
  );
  assertEquals(chunkReads.length, 5);
  assertEquals(store.count("getBytes", covered), 0);
});

Deno.test("mergeAudioFile() reads every format of the original bucket, planning the header from 8-24 byte reads", async () => {
  const store = new MemoryStore();
  const { deps, logs } = makeDeps(store);
  const exts: ChunkExt[] = ["opus", "opus.enc", "enc", "bin"];
  const pcmAt = new Map<number, Uint8Array>();
  const requested: number[] = [];
  for (const [i, ext] of exts.entries()) {
    const ts = BASE + i * 5;
    const pcm = tonePcm(i === 2 ? 3.3 : 5, 200 + 40 * i);
    await putOriginalChunk(store, { uid: UID, cid: CID, ts, ext }, pcm);
    const stored = await store.getBytes(
      `chunks/${UID}/${CID}/${ts.toFixed(3)}.${ext}`,
    );
    pcmAt.set(
      ts,
      await decodeChunk(
        ext,
        stored,
        async () => (await deps.keys.keysFor(UID)).gcm,
      ),
    );
    requested.push(ts);
  }
  const batchFirst = BASE + 20;
  const batchChunks = [tonePcm(5, 300), tonePcm(2.5, 330)];
  await putOriginalBatch(
    store,
    {
      uid: UID,
      cid: CID,
      first: batchFirst,
      last: batchFirst + 5,
      ext: "batch.enc",
    },
    batchChunks,
  );
  pcmAt.set(batchFirst, new Uint8Array([...batchChunks[0], ...batchChunks[1]]));
  requested.push(batchFirst, batchFirst + 5);
  const before = store.calls.length;

  await mergeAudioFile(deps, {
    uid: UID,
    cid: CID,
    fid: FID,
    timestamps: requested,
    priority: "interactive",
  });

  const cached = await store.getBytes(mergedKey(UID, CID, FID));
  assertEquals(cached, wavOf(referenceAssembly(requested, pcmAt)));
  assertEquals(
    logs.filter((l) => l.level === "warn"),
    [],
    "the plan matched the decoded audio",
  );
  const reads = store.calls.slice(before).filter((c) =>
    c.op === "getBytes" && c.key.startsWith("chunks/")
  );
  // Each of the 5 objects is read once whole. Those without a length in the
  // listing (.bin has it in its size) get a small header read first: one
  // each for .opus, .opus.enc and .enc, one per frame for the 2-frame batch.
  assertEquals(reads.length, 5 + 3 + 2);
});

Deno.test("mergeAudioFile() falls through to the next format when a chunk cannot be decrypted, logging its key", async () => {
  const store = new MemoryStore();
  const { deps, logs } = makeDeps(store);
  const pcm = noisePcm(32_000, 11);
  // Encrypted for another uid: the tag cannot verify for UID.
  const foreign = await originalObject("enc", pcm, "someone-else");
  const badKey = `chunks/${UID}/${CID}/${BASE.toFixed(3)}.enc`;
  await store.put(badKey, foreign);
  await putOriginalChunk(
    store,
    { uid: UID, cid: CID, ts: BASE, ext: "bin" },
    pcm,
  );

  const result = await mergeAudioFile(deps, {
    uid: UID,
    cid: CID,
    fid: FID,
    timestamps: [BASE],
    priority: "interactive",
  });
  assertEquals(await store.getBytes(mergedKey(UID, CID, FID)), wavOf(pcm));
  assertEquals(result.present, 1);
  assert(
    logs.some((l) => l.key === badKey && l.level === "warn"),
    JSON.stringify(logs),
  );
});

Deno.test("mergeAudioFile() retries a transient storage error and succeeds", async () => {
  const store = new MemoryStore();
  const { deps } = makeDeps(store);
  const pcm = noisePcm(32_000, 12);
  const key = await putOriginalChunk(store, {
    uid: UID,
    cid: CID,
    ts: BASE,
    ext: "bin",
  }, pcm);
  store.failNext(
    key,
    new TransientStorageError("503 from storage", { cause: null }),
  );
  await mergeAudioFile(deps, {
    uid: UID,
    cid: CID,
    fid: FID,
    timestamps: [BASE],
    priority: "interactive",
  });
  assertEquals(await store.getBytes(mergedKey(UID, CID, FID)), wavOf(pcm));
  assertEquals(store.count("getBytes", key), 2);
});

Deno.test("mergeAudioFile() fails with 503 and caches nothing when storage keeps failing", async () => {
  const store = new MemoryStore();
  const { deps } = makeDeps(store);
  const key = await putOriginalChunk(store, {
    uid: UID,
    cid: CID,
    ts: BASE,
    ext: "bin",
  }, noisePcm(320, 1));
  await putOriginalChunk(store, {
    uid: UID,
    cid: CID,
    ts: BASE + 5,
    ext: "bin",
  }, noisePcm(320, 2));
  for (let i = 0; i < 10; i++) {
    store.failNext(
      key,
      new TransientStorageError("storage down", { cause: null }),
    );
  }
  const error = await assertRejects(
    () =>
      mergeAudioFile(deps, {
        uid: UID,
        cid: CID,
        fid: FID,
        timestamps: [BASE, BASE + 5],
        priority: "interactive",
      }),
    OverloadedError,
  );
  assertEquals(error.status, 503);
  assert(error.headers["Retry-After"]);
  assertEquals(await store.head(mergedKey(UID, CID, FID)), null);
  assertEquals(
    deps.limiters.get("storage.chunk").inFlight,
    0,
    "no permit leaked",
  );
});

Deno.test("mergeAudioFile() answers 404 when no requested chunk exists or decodes, and caches nothing", async () => {
  const store = new MemoryStore();
  const { deps } = makeDeps(store);
  await assertRejects(
    () =>
      mergeAudioFile(deps, {
        uid: UID,
        cid: CID,
        fid: FID,
        timestamps: [BASE],
        priority: "interactive",
      }),
    NoChunksError,
    "Audio chunks not found in storage",
  );
  await store.put(
    `chunks/${UID}/${CID}/${BASE.toFixed(3)}.opus`,
    new Uint8Array([1, 2, 3]),
  );
  const error = await assertRejects(
    () =>
      mergeAudioFile(deps, {
        uid: UID,
        cid: CID,
        fid: FID,
        timestamps: [BASE],
        priority: "interactive",
      }),
    NoChunksError,
  );
  assertEquals(error.status, 404);
  assertEquals(await store.head(mergedKey(UID, CID, FID)), null);
});

/** Holds every chunk read open until the test releases it. */
function gateReads(store: MemoryStore, match: (key: string) => boolean) {
  const held: Array<{ key: string; release: () => void }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const perPrefix = new Map<string, number>();
  const maxPerPrefix = new Map<string, number>();
  store.onGet = (key) => {
    if (!match(key)) return Promise.resolve();
    const prefix = key.slice(0, key.lastIndexOf("/"));
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    perPrefix.set(prefix, (perPrefix.get(prefix) ?? 0) + 1);
    maxPerPrefix.set(
      prefix,
      Math.max(maxPerPrefix.get(prefix) ?? 0, perPrefix.get(prefix)!),
    );
    const { promise, resolve } = Promise.withResolvers<void>();
    held.push({
      key,
      release: () => {
        inFlight--;
        perPrefix.set(prefix, perPrefix.get(prefix)! - 1);
        resolve();
      },
    });
    return promise;
  };
  return {
    held,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    maxPerPrefix,
  };
}

/** Lets every pending promise and stream step run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("merges never run more than 8 chunk reads each nor more than storage.chunk permits in all", async () => {
  const store = new MemoryStore();
  const limiters = createDefaultLimiters({ "storage.chunk": { permits: 12 } });
  const { deps } = makeDeps(store, { limiters });
  const conversations = ["c-a", "c-b", "c-c"];
  const requested: number[] = [];
  for (let i = 0; i < 20; i++) requested.push(BASE + i * 5);
  for (const cid of conversations) {
    for (const ts of requested) {
      await putOriginalChunk(
        store,
        { uid: UID, cid, ts, ext: "bin" },
        noisePcm(64, ts),
      );
    }
  }
  const gate = gateReads(store, (key) => key.startsWith("chunks/"));
  const merges = conversations.map((cid) =>
    mergeAudioFile(deps, {
      uid: UID,
      cid,
      fid: FID,
      timestamps: requested,
      priority: "interactive",
    })
  );
  await settle();
  // 3 merges x window 8 = 24 wanted; the global cap lets 12 run.
  assertEquals(gate.inFlight, 12);
  assertEquals(limiters.get("storage.chunk").waiting, 12);
  let released = 0;
  while (gate.held.length > 0) {
    gate.held.shift()!.release();
    released++;
    await settle();
    assertLessOrEqual(gate.inFlight, 12);
  }
  await Promise.all(merges);
  assertEquals(released, 60);
  assertEquals(gate.maxInFlight, 12);
  for (const cid of conversations) {
    assertLessOrEqual(
      gate.maxPerPrefix.get(`chunks/${UID}/${cid}`)!,
      MERGE_WINDOW,
    );
  }
  assertEquals(limiters.get("storage.chunk").inFlight, 0);
});

Deno.test("one merge runs exactly 8 chunk reads at once when permits are plentiful", async () => {
  const store = new MemoryStore();
  const { deps } = makeDeps(store);
  const requested = Array.from({ length: 30 }, (_, i) => BASE + i * 5);
  for (const ts of requested) {
    await putOriginalChunk(
      store,
      { uid: UID, cid: CID, ts, ext: "bin" },
      noisePcm(64, ts),
    );
  }
  const gate = gateReads(store, (key) => key.startsWith("chunks/"));
  const merge = mergeAudioFile(deps, {
    uid: UID,
    cid: CID,
    fid: FID,
    timestamps: requested,
    priority: "interactive",
  });
  await settle();
  assertEquals(gate.inFlight, MERGE_WINDOW);
  while (gate.held.length > 0) {
    gate.held.shift()!.release();
    await settle();
  }
  await merge;
  assertEquals(gate.maxInFlight, MERGE_WINDOW);
});

Deno.test("a merge streamed to a slow writer never fetches more than the window ahead of what was written", async () => {
  const store = new MemoryStore();
  const requested = Array.from({ length: 40 }, (_, i) => BASE + i * 5);
  for (const ts of requested) {
    await putOriginalChunk(
      store,
      { uid: UID, cid: CID, ts, ext: "bin" },
      noisePcm(160_000, ts),
    );
  }
  let fetched = 0;
  store.onGet = () => {
    fetched++;
    return Promise.resolve();
  };
  // A store whose writer reads one part at a time, on the test's command.
  const pulls: Array<() => void> = [];
  let partsRead = 0;
  let maxAhead = 0;
  const slowStore = wrapStore(store, { put: slowPut });
  async function slowPut(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    options?: PutOptions,
  ) {
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    const parts: Uint8Array[] = [];
    while (true) {
      await new Promise<void>((resolve) => pulls.push(resolve));
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
      partsRead++;
      // Parts are the header, then one PCM part per contiguous chunk.
      maxAhead = Math.max(maxAhead, fetched - (partsRead - 1));
    }
    return await store.put(key, concatBytes(parts), options);
  }
  const { deps } = makeDeps(slowStore);
  const merge = mergeAudioFile(deps, {
    uid: UID,
    cid: CID,
    fid: FID,
    timestamps: requested,
    priority: "interactive",
  });
  while (true) {
    await settle();
    const pull = pulls.shift();
    if (!pull) break;
    pull();
  }
  const result = await merge;
  assertEquals(result.present, 40);
  assertEquals(fetched, 40);
  // The window's 8 plus the one result the stream holds for its reader.
  assertLessOrEqual(maxAhead, MERGE_WINDOW + 1);
  assert(maxAhead >= MERGE_WINDOW, `the window was used (ahead ${maxAhead})`);
});

Deno.test("mergeAudioFile() rejects a missing ENCRYPTION_SECRET for encrypted chunks with a clear 503", async () => {
  const store = new MemoryStore();
  const keys = new KeyRing(undefined);
  const { deps } = makeDeps(store, { keys, decode: chunkDecoder(keys) });
  await putOriginalChunk(store, {
    uid: UID,
    cid: CID,
    ts: BASE,
    ext: "opus.enc",
  }, tonePcm(1));
  const error = await assertRejects(
    () =>
      mergeAudioFile(deps, {
        uid: UID,
        cid: CID,
        fid: FID,
        timestamps: [BASE],
        priority: "interactive",
      }),
  );
  assertInstanceOf(error, Error);
  assertEquals((error as { status?: number }).status, 503);
  assert(error.message.includes("ENCRYPTION_SECRET"));
});

Deno.test("mergeAudioFile() treats a corrupt batch as absent as a whole, even where single chunks exist inside it", async () => {
  const store = new MemoryStore();
  const { deps, logs } = makeDeps(store);
  const before = noisePcm(32_000, 21);
  await putOriginalChunk(
    store,
    { uid: UID, cid: CID, ts: BASE, ext: "bin" },
    before,
  );
  // A .batch.enc whose frame is cut short cannot be decrypted.
  await store.put(
    `chunks/${UID}/${CID}/${(BASE + 5).toFixed(3)}-${
      (BASE + 10).toFixed(3)
    }.batch.enc`,
    new Uint8Array([0, 0, 0, 40, 1, 2, 3]),
  );
  await putOriginalChunk(store, {
    uid: UID,
    cid: CID,
    ts: BASE + 10,
    ext: "bin",
  }, noisePcm(32_000, 22));
  const requested = [BASE, BASE + 5, BASE + 10];
  const result = await mergeAudioFile(deps, {
    uid: UID,
    cid: CID,
    fid: FID,
    timestamps: requested,
    priority: "interactive",
  });
  assertEquals(result.present, 1);
  assertEquals(result.absent, 1);
  // Only the first chunk: the batch is absent and the chunk at +10 is covered by it.
  assertEquals(await store.getBytes(mergedKey(UID, CID, FID)), wavOf(before));
  // The plan counted the batch's header-declared length; the mismatch made
  // a second, exact pass instead of padding.
  assert(logs.some((l) => String(l.msg).includes("merging again")));
  assertEquals(store.count("put", mergedKey(UID, CID, FID)), 2);
});

Deno.test("mergeAudioFile() fails with 503 and caches nothing when the decoder itself fails (a crashed worker)", async () => {
  const store = new MemoryStore();
  const keys = new KeyRing(TEST_ENCRYPTION_SECRET);
  const failing = {
    encode: () => Promise.reject(new Error("unused")),
    decode: () =>
      Promise.reject(new OverloadedError("storage worker group failed", 2)),
  };
  const { deps } = makeDeps(store, {
    keys,
    decode: chunkDecoder(keys, failing),
  });
  await putOriginalChunk(
    store,
    { uid: UID, cid: CID, ts: BASE, ext: "opus" },
    tonePcm(1),
  );
  await putOriginalChunk(
    store,
    { uid: UID, cid: CID, ts: BASE, ext: "bin" },
    tonePcm(1),
  );
  const error = await assertRejects(
    () =>
      mergeAudioFile(deps, {
        uid: UID,
        cid: CID,
        fid: FID,
        timestamps: [BASE],
        priority: "interactive",
      }),
    OverloadedError,
  );
  assertEquals(error.status, 503);
  assertEquals(await store.head(mergedKey(UID, CID, FID)), null);
  assertEquals(
    store.count("getBytes", `chunks/${UID}/${CID}/${BASE.toFixed(3)}.bin`),
    0,
    "no fall-through",
  );
});

Deno.test("a corrupt opus header that claims billions of packets is absent, not a 4 GiB plan", async () => {
  const store = new MemoryStore();
  const { deps } = makeDeps(store);
  const good = noisePcm(32_000, 31);
  await putOriginalChunk(
    store,
    { uid: UID, cid: CID, ts: BASE, ext: "bin" },
    good,
  );
  const corrupt = new Uint8Array(20);
  new DataView(corrupt.buffer).setUint32(0, 0xffff_ffff, true);
  await store.put(
    `chunks/${UID}/${CID}/${(BASE + 1).toFixed(3)}.opus`,
    corrupt,
  );
  const result = await mergeAudioFile(deps, {
    uid: UID,
    cid: CID,
    fid: FID,
    timestamps: [BASE, BASE + 1],
    priority: "interactive",
  });
  assertEquals(result.present, 1);
  assertEquals(await store.getBytes(mergedKey(UID, CID, FID)), wavOf(good));
});

Deno.test("pythonIsoUtc() writes what Python's isoformat() writes for UTC instants", () => {
  // datetime(2026, 5, 22, 10, 11, 12, 123000, tzinfo=timezone.utc).isoformat()
  assertEquals(
    pythonIsoUtc(Date.UTC(2026, 4, 22, 10, 11, 12, 123)),
    "2026-05-22T10:11:12.123000+00:00",
  );
  assertEquals(
    pythonIsoUtc(Date.UTC(2026, 4, 22, 10, 11, 12)),
    "2026-05-22T10:11:12+00:00",
  );
  assertEquals(Date.parse(pythonIsoUtc(1_779_444_672_005)), 1_779_444_672_005);
});
