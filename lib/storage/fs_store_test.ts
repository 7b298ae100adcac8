import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { BlobSigner } from "./blob_signer.ts";
import { FsStore } from "./fs_store.ts";
import { PreconditionFailedError } from "./object_store.ts";

async function withStore(
  fn: (store: FsStore, root: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "fs-store-test-" });
  try {
    await fn(
      new FsStore({
        root,
        bucket: "bkt",
        signer: new BlobSigner("fs-store-test"),
        publicBaseUrl: "http://127.0.0.1:1",
        clock: {
          now: () => 1_800_000_000_000,
          sleep: () => Promise.resolve(),
          random: () => 0.5,
        },
      }),
      root,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) out.push(...await filesUnder(path));
      else out.push(path);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

Deno.test("FsStore stores object KEY of bucket B as the file root/B/KEY", async () => {
  await withStore(async (store, root) => {
    await store.put("chunks/u1/c1/1.000.bin", new Uint8Array([7, 8, 9]));
    assertEquals(
      await Deno.readFile(`${root}/bkt/chunks/u1/c1/1.000.bin`),
      new Uint8Array([7, 8, 9]),
    );
  });
});

Deno.test("FsStore.put() whose body stream fails leaves no object and no temp file", async () => {
  await withStore(async (store, root) => {
    await store.put("objects/keep.bin", new Uint8Array([1]));
    const before = await filesUnder(root);
    let pulls = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        if (pulls <= 3) controller.enqueue(new Uint8Array(100_000).fill(pulls));
        else controller.error(new Error("client went away"));
      },
    });
    await assertRejects(
      () => store.put("objects/broken.bin", failing),
      Error,
      "client went away",
    );
    assertEquals(pulls, 4, "the body was partly written before it failed");
    assertEquals(await store.head("objects/broken.bin"), null);
    assertEquals((await store.list("")).map((o) => o.key), [
      "objects/keep.bin",
    ]);
    assertEquals(
      await filesUnder(root),
      before,
      "no temp file or sidecar left",
    );
  });
});

Deno.test("FsStore.put() that fails over an existing object keeps the old version", async () => {
  await withStore(async (store) => {
    const old = await store.put("objects/a.bin", new Uint8Array([1]), {
      metadata: { v: "1" },
    });
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([2, 2]));
        controller.error(new Error("reset"));
      },
    });
    await assertRejects(
      () => store.put("objects/a.bin", failing),
      Error,
      "reset",
    );
    assertEquals(await store.getBytes("objects/a.bin"), new Uint8Array([1]));
    assertEquals(await store.head("objects/a.bin"), old);
  });
});

Deno.test("FsStore never lists or reads temp files and orphan sidecars left by a crash", async () => {
  await withStore(async (store, root) => {
    const info = await store.put("objects/a.bin", new Uint8Array([1]), {
      contentType: "audio/wav",
      metadata: { v: "1" },
    });
    // What a crash between the steps of a write leaves behind.
    await Deno.writeFile(
      `${root}/.tmp/${crypto.randomUUID()}`,
      new Uint8Array([9]),
    );
    const { ino } = await Deno.stat(`${root}/bkt/objects/a.bin`);
    await Deno.writeTextFile(
      `${root}/.meta/bkt/objects/a.bin.${ino! + 1}.json`,
      JSON.stringify({
        v: 1,
        generation: "99",
        contentType: "text/plain",
        metadata: { v: "2" },
        updated: 0,
      }),
    );
    await Deno.writeTextFile(
      `${root}/.meta/bkt/objects/ghost.bin.${ino! + 2}.json`,
      JSON.stringify({
        v: 1,
        generation: "98",
        contentType: "text/plain",
        metadata: {},
        updated: 0,
      }),
    );
    assertEquals(await store.list(""), [info]);
    assertEquals(await store.head("objects/a.bin"), info);
    assertEquals(await store.head("objects/ghost.bin"), null);
  });
});

Deno.test("FsStore gives a file copied in by hand default metadata", async () => {
  await withStore(async (store, root) => {
    await Deno.mkdir(`${root}/bkt/manual`, { recursive: true });
    await Deno.writeFile(`${root}/bkt/manual/x.bin`, new Uint8Array([1, 2]));
    const info = await store.head("manual/x.bin");
    assertEquals(info?.size, 2);
    assertEquals(info?.contentType, "application/octet-stream");
    assertEquals(info?.metadata, {});
    assert(info && info.generation !== "0");
  });
});

Deno.test("FsStore.put() with ifGenerationMatch 0 lets exactly one of two racing writers win", async () => {
  await withStore(async (store) => {
    const results = await Promise.allSettled([
      store.put("objects/once.bin", new Uint8Array([1]), {
        ifGenerationMatch: 0,
      }),
      store.put("objects/once.bin", new Uint8Array([2]), {
        ifGenerationMatch: 0,
      }),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    assertEquals(won.length, 1);
    assertEquals(lost.length, 1);
    assert(
      (lost[0] as PromiseRejectedResult).reason instanceof
        PreconditionFailedError,
    );
    const winner =
      (won[0] as PromiseFulfilledResult<{ generation: string }>).value;
    assertEquals(
      (await store.head("objects/once.bin"))?.generation,
      winner.generation,
    );
  });
});

Deno.test("FsStore.put() over a key removes the previous version's sidecar", async () => {
  await withStore(async (store, root) => {
    await store.put("objects/a.bin", new Uint8Array([1]));
    await store.put("objects/a.bin", new Uint8Array([2]));
    await store.put("objects/a.bin", new Uint8Array([3]));
    assertEquals((await filesUnder(`${root}/.meta`)).length, 1);
    await store.delete("objects/a.bin");
    assertEquals(await filesUnder(`${root}/.meta`), []);
  });
});

Deno.test("FsStore.get() keeps serving the version it opened while a writer replaces it", async () => {
  await withStore(async (store) => {
    await store.put("objects/a.bin", new Uint8Array(200_000).fill(1), {
      metadata: { v: "1" },
    });
    const { info, body } = await store.get("objects/a.bin");
    await store.put("objects/a.bin", new Uint8Array(10).fill(2), {
      metadata: { v: "2" },
    });
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    assertEquals(info.metadata, { v: "1" });
    assertEquals(bytes.byteLength, 200_000);
    assert(bytes.every((b) => b === 1));
  });
});

Deno.test("FsStore.signedUrl() signs the blob route with the clock's expiry", async () => {
  await withStore(async (store) => {
    const url = new URL(
      await store.signedUrl("merged/u/c/f.wav", { ttlSeconds: 3600 }),
    );
    assertEquals(url.origin, "http://127.0.0.1:1");
    assertEquals(url.pathname, "/v1/blobs/bkt/merged/u/c/f.wav");
    assertEquals(url.searchParams.get("expires"), String(1_800_000_000 + 3600));
    const status = await new BlobSigner("fs-store-test").verify(
      "bkt",
      "merged/u/c/f.wav",
      url.searchParams.get("expires")!,
      url.searchParams.get("sig")!,
      1_800_000_000,
    );
    assertEquals(status, "valid");
    await assertRejects(
      () => store.signedUrl("a", { ttlSeconds: 0 }),
      TypeError,
    );
  });
});

Deno.test("FsStore rejects bucket names that could leave the root", () => {
  for (const bucket of ["..", ".meta", "a/b", "", "UPPER"]) {
    assertThrows(
      () =>
        new FsStore({
          root: "/tmp/x",
          bucket,
          signer: new BlobSigner("s"),
          publicBaseUrl: "",
        }),
      TypeError,
    );
  }
});
