/**
 * The behaviour every {@linkcode ObjectStore} must have, as a suite of
 * `Deno.test` cases that each store's contract test registers with its own
 * factory.
 *
 * @module
 */
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import {
  NotFoundError,
  type ObjectStore,
  PreconditionFailedError,
} from "../lib/storage/object_store.ts";

/** What a factory hands to each contract test. */
export interface StoreUnderTest {
  /** A store whose bucket is empty. */
  store: ObjectStore;
  /** Releases what the factory made (directories, servers, objects). */
  cleanup(): Promise<void>;
  /**
   * Fetches a URL returned by `store.signedUrl`; global `fetch` by default.
   * Stores whose URLs no HTTP server answers (the memory store) resolve them
   * here instead.
   */
  fetchSignedUrl?(url: string): Promise<Response>;
}

/** Options of {@linkcode storeContract}. */
export interface StoreContractOptions {
  /** Passed to every `Deno.test`, e.g. to skip when a server is missing. */
  ignore?: boolean;
}

/** 1 MiB: larger than any single read or write buffer of the stores. */
const ONE_MIB = 1024 * 1024;

/**
 * Registers one `Deno.test` per behaviour of the {@linkcode ObjectStore}
 * contract, each with a fresh store from `makeStore`.
 *
 * @param name prefixes every test name, e.g. `"FsStore"`
 */
export function storeContract(
  name: string,
  makeStore: () => Promise<StoreUnderTest>,
  options: StoreContractOptions = {},
): void {
  function test(
    behaviour: string,
    fn: (subject: StoreUnderTest) => Promise<void>,
  ): void {
    Deno.test({
      name: `${name} ${behaviour}`,
      ignore: options.ignore,
      async fn() {
        const subject = await makeStore();
        try {
          await fn(subject);
        } finally {
          await subject.cleanup();
        }
      },
    });
  }

  test("put() then getBytes() returns the same binary bytes", async ({ store }) => {
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
    const info = await store.put("objects/every-byte.bin", everyByte);
    assertEquals(info.key, "objects/every-byte.bin");
    assertEquals(info.size, 256);
    assertEquals(await store.getBytes("objects/every-byte.bin"), everyByte);
  });

  test("put() then get() round-trips a 0-byte object", async ({ store }) => {
    const info = await store.put("objects/empty.bin", new Uint8Array(0));
    assertEquals(info.size, 0);
    const got = await store.get("objects/empty.bin");
    assertEquals(got.info.size, 0);
    assertEquals(await collect(got.body), new Uint8Array(0));
    assertEquals(await store.getBytes("objects/empty.bin"), new Uint8Array(0));
  });

  test("put() then get() streams back a 1 MiB object", async ({ store }) => {
    const big = pattern(ONE_MIB + 7, 11);
    await store.put("objects/big.bin", big);
    const { info, body } = await store.get("objects/big.bin");
    assertEquals(info.size, big.byteLength);
    const streamed = await collect(body);
    assertEquals(streamed.byteLength, big.byteLength);
    assert(
      equalBytes(streamed, big),
      "streamed body differs from what was put",
    );
    assert(equalBytes(await store.getBytes("objects/big.bin"), big));
  });

  test("put() keeps contentType and metadata for head(), get() and list()", async ({ store }) => {
    const metadata = {
      expires_at: "2026-05-22T10:11:12.123456+00:00",
      audio_file_id: "f-1",
    };
    const put = await store.put("merged/u1/c1/f-1.wav", new Uint8Array([1]), {
      contentType: "audio/wav",
      metadata,
    });
    assertEquals(put.contentType, "audio/wav");
    assertEquals(put.metadata, metadata);
    assertNotEquals(put.generation, "0");
    assertInstanceOf(put.updated, Date);
    assert(!Number.isNaN(put.updated.getTime()), "updated is not a date");

    const head = await store.head("merged/u1/c1/f-1.wav");
    assertEquals(head?.contentType, "audio/wav");
    assertEquals(head?.metadata, metadata);
    assertEquals(head?.generation, put.generation);
    assertEquals(head?.size, 1);

    const got = await store.get("merged/u1/c1/f-1.wav");
    await got.body.cancel();
    assertEquals(got.info.metadata, metadata);
    assertEquals(got.info.generation, put.generation);

    const [listed] = await store.list("merged/u1/");
    assertEquals(listed.metadata, metadata);
    assertEquals(listed.contentType, "audio/wav");
  });

  test("put() without options stores octet-stream and no metadata", async ({ store }) => {
    await store.put("chunks/u1/c1/1.000.bin", new Uint8Array([1, 2]));
    const head = await store.head("chunks/u1/c1/1.000.bin");
    assertEquals(head?.contentType, "application/octet-stream");
    assertEquals(head?.metadata, {});
  });

  test("head() of a missing object is null", async ({ store }) => {
    assertEquals(await store.head("missing/object.bin"), null);
  });

  test("get() and getBytes() of a missing object throw NotFoundError", async ({ store }) => {
    await assertRejects(() => store.get("missing/object.bin"), NotFoundError);
    await assertRejects(
      () => store.getBytes("missing/object.bin"),
      NotFoundError,
    );
  });

  test("list() returns only the prefix's objects, sorted by key", async ({ store }) => {
    const keys = [
      "chunks/u1/c2/1700000002.000.opus",
      "chunks/u1/c1/1700000001.000.bin",
      "chunks/u10/c1/1700000003.000.bin",
      "merged/u1/c1/f.wav",
      "chunks/u1/c1/1700000000.500-1700000001.000.batch.bin",
      "chunks/u1/c1/1700000000.000.opus.enc",
    ];
    for (const [i, key] of keys.entries()) {
      await store.put(key, new Uint8Array(i + 1));
    }
    const listed = await store.list("chunks/u1/");
    assertEquals(listed.map((o) => o.key), [
      "chunks/u1/c1/1700000000.000.opus.enc",
      "chunks/u1/c1/1700000000.500-1700000001.000.batch.bin",
      "chunks/u1/c1/1700000001.000.bin",
      "chunks/u1/c2/1700000002.000.opus",
    ]);
    assertEquals(listed.map((o) => o.size), [6, 5, 2, 1]);
    assertEquals(
      (await store.list("chunks/u1/c1/")).length,
      3,
      "a conversation prefix lists only that conversation",
    );
    assertEquals(
      (await store.list("chunks/u1")).map((o) => o.key).filter((k) =>
        k.startsWith("chunks/u10/")
      ),
      ["chunks/u10/c1/1700000003.000.bin"],
      "a prefix without a trailing slash matches partial segments",
    );
    assertEquals(await store.list("chunks/u2/"), []);
    assertEquals((await store.list("")).length, keys.length);
  });

  test("get() with a range returns only those bytes", async ({ store }) => {
    const bytes = pattern(1000, 3);
    await store.put("objects/ranged.bin", bytes);
    const { info, body } = await store.get("objects/ranged.bin", {
      range: { start: 100, end: 199 },
    });
    assertEquals(info.size, 1000, "info describes the whole object");
    assertEquals(await collect(body), bytes.slice(100, 200));
    assertEquals(
      await store.getBytes("objects/ranged.bin", {
        range: { start: 0, end: 0 },
      }),
      bytes.slice(0, 1),
    );
    assertEquals(
      await store.getBytes("objects/ranged.bin", {
        range: { start: 990, end: 999 },
      }),
      bytes.slice(990),
    );
  });

  test("put() over an existing key replaces it with a new generation", async ({ store }) => {
    const first = await store.put("objects/over.bin", new Uint8Array([1, 1]), {
      contentType: "text/plain",
      metadata: { a: "1" },
    });
    const second = await store.put("objects/over.bin", new Uint8Array([2]), {
      metadata: { b: "2" },
    });
    assertNotEquals(second.generation, first.generation);
    assertEquals(await store.getBytes("objects/over.bin"), new Uint8Array([2]));
    const listed = await store.list("objects/");
    assertEquals(listed.length, 1);
    assertEquals(listed[0].generation, second.generation);
    assertEquals(listed[0].size, 1);
    assertEquals(listed[0].metadata, { b: "2" }, "metadata is replaced");
    assertEquals(listed[0].contentType, "application/octet-stream");
  });

  test("put() with ifGenerationMatch 0 creates only when absent", async ({ store }) => {
    const created = await store.put("objects/once.bin", new Uint8Array([1]), {
      ifGenerationMatch: 0,
    });
    await assertRejects(
      () =>
        store.put("objects/once.bin", new Uint8Array([2]), {
          ifGenerationMatch: 0,
        }),
      PreconditionFailedError,
    );
    const head = await store.head("objects/once.bin");
    assertEquals(head?.generation, created.generation, "loser wrote nothing");
    assertEquals(await store.getBytes("objects/once.bin"), new Uint8Array([1]));
  });

  test("put() with ifGenerationMatch N writes only over generation N", async ({ store }) => {
    const first = await store.put("objects/cas.bin", new Uint8Array([1]));
    const second = await store.put("objects/cas.bin", new Uint8Array([2]), {
      ifGenerationMatch: first.generation,
    });
    await assertRejects(
      () =>
        store.put("objects/cas.bin", new Uint8Array([3]), {
          ifGenerationMatch: first.generation,
        }),
      PreconditionFailedError,
    );
    assertEquals(await store.getBytes("objects/cas.bin"), new Uint8Array([2]));
    assertEquals(
      (await store.head("objects/cas.bin"))?.generation,
      second.generation,
    );
    await assertRejects(
      () =>
        store.put("objects/absent.bin", new Uint8Array([4]), {
          ifGenerationMatch: first.generation,
        }),
      PreconditionFailedError,
    );
    assertEquals(await store.head("objects/absent.bin"), null);
  });

  test("delete() reports whether the object existed", async ({ store }) => {
    await store.put("objects/doomed.bin", new Uint8Array([1]));
    assertEquals(await store.delete("objects/doomed.bin"), true);
    assertEquals(await store.head("objects/doomed.bin"), null);
    assertEquals(await store.delete("objects/doomed.bin"), false);
    assertEquals(await store.list("objects/"), []);
  });

  test("deletePrefix() deletes exactly the prefix's objects", async ({ store }) => {
    for (
      const key of [
        "chunks/u1/c1/1.000.bin",
        "chunks/u1/c1/2.000.bin",
        "chunks/u1/c2/3.000.bin",
        "chunks/u10/c1/4.000.bin",
        "merged/u1/c1/f.wav",
      ]
    ) {
      await store.put(key, new Uint8Array([1]));
    }
    assertEquals(await store.deletePrefix("chunks/u1/"), 3);
    assertEquals((await store.list("")).map((o) => o.key), [
      "chunks/u10/c1/4.000.bin",
      "merged/u1/c1/f.wav",
    ]);
    assertEquals(await store.deletePrefix("chunks/u1/"), 0);
  });

  test("put() accepts a ReadableStream body", async ({ store }) => {
    const parts = [pattern(70_000, 1), new Uint8Array(0), pattern(200_001, 2)];
    const expected = concat(parts);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(part);
        controller.close();
      },
    });
    const info = await store.put("objects/streamed.bin", body, {
      contentType: "audio/wav",
    });
    assertEquals(info.size, expected.byteLength);
    assertEquals(info.contentType, "audio/wav");
    assert(equalBytes(await store.getBytes("objects/streamed.bin"), expected));
  });

  test("signedUrl() gives a URL that serves the object's bytes", async (subject) => {
    const { store } = subject;
    const bytes = pattern(5000, 7);
    await store.put("merged/u1/c1/f-1.wav", bytes, {
      contentType: "audio/wav",
    });
    const url = await store.signedUrl("merged/u1/c1/f-1.wav", {
      ttlSeconds: 3600,
    });
    const fetchUrl = subject.fetchSignedUrl ?? fetch;
    const response = await fetchUrl(url);
    assertEquals(response.status, 200);
    assertEquals(new Uint8Array(await response.arrayBuffer()), bytes);
  });

  test("get() body can be cancelled without reading it", async ({ store }) => {
    await store.put("objects/unread.bin", pattern(300_000, 5));
    const { body } = await store.get("objects/unread.bin");
    const reader = body.getReader();
    const first = await reader.read();
    assert(!first.done && first.value.byteLength > 0);
    await reader.cancel();
  });

  test("operations reject keys that could escape the bucket", async ({ store }) => {
    for (const key of ["../escape", "/abs", "a//b", "a/./b", "a/\u0000b", ""]) {
      await assertRejects(() => store.put(key, new Uint8Array(1)), TypeError);
      await assertRejects(() => store.head(key), TypeError);
      await assertRejects(() => store.getBytes(key), TypeError);
      await assertRejects(() => store.delete(key), TypeError);
    }
    await assertRejects(() => store.list("../"), TypeError);
    await assertRejects(() => store.deletePrefix(""), TypeError);
  });

  test("operations reject an already-aborted signal", async ({ store }) => {
    await store.put("objects/a.bin", new Uint8Array([1]));
    const controller = new AbortController();
    controller.abort(new Error("caller gave up"));
    const { signal } = controller;
    await assertRejects(() => store.getBytes("objects/a.bin", { signal }));
    await assertRejects(() => store.head("objects/a.bin", { signal }));
    await assertRejects(() =>
      store.put("objects/b.bin", new Uint8Array([1]), { signal })
    );
    assertEquals(await store.head("objects/b.bin"), null);
  });
}

/** Deterministic bytes that differ between offsets and seeds. */
export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function collect(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return concat(await Array.fromAsync(body));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Byte comparison without assertEquals's slow diff on large arrays. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
