import { assertEquals, assertRejects, assertStrictEquals } from "@std/assert";
import { MemoryStore } from "./memory_store.ts";
import { isTransient, TransientStorageError } from "./object_store.ts";

Deno.test("MemoryStore.failNext() fails only the next matching call, once", async () => {
  const store = new MemoryStore();
  await store.put("chunks/u/c/1.000.bin", new Uint8Array([1]));
  await store.put("chunks/u/c/2.000.bin", new Uint8Array([2]));
  const boom = new TransientStorageError("boom", { cause: null, status: 503 });
  store.failNext("chunks/u/c/2.000.bin", boom);

  assertEquals(
    await store.getBytes("chunks/u/c/1.000.bin"),
    new Uint8Array([1]),
  );
  const err = await assertRejects(() => store.getBytes("chunks/u/c/2.000.bin"));
  assertStrictEquals(err, boom);
  assertEquals(isTransient(err), true);
  assertEquals(
    await store.getBytes("chunks/u/c/2.000.bin"),
    new Uint8Array([2]),
  );
});

Deno.test("MemoryStore.failNext() with a predicate selects by operation", async () => {
  const store = new MemoryStore();
  await store.put("a", new Uint8Array([1]));
  store.failNext((call) => call.op === "getBytes", new Error("first"));
  store.failNext((call) => call.op === "getBytes", new Error("second"));
  assertEquals((await store.head("a"))?.size, 1, "head is not a getBytes");
  await assertRejects(() => store.getBytes("a"), Error, "first");
  await assertRejects(() => store.getBytes("a"), Error, "second");
  assertEquals(await store.getBytes("a"), new Uint8Array([1]));
});

Deno.test("MemoryStore.calls logs every call in order, failed ones too", async () => {
  const store = new MemoryStore();
  await store.put("a", new Uint8Array([1]));
  await store.list("");
  await assertRejects(() => store.getBytes("missing"));
  await store.delete("a");
  assertEquals(store.calls, [
    { op: "put", key: "a" },
    { op: "list", key: "" },
    { op: "getBytes", key: "missing" },
    { op: "delete", key: "a" },
  ]);
  assertEquals(store.count("getBytes"), 1);
  assertEquals(store.count("put", "a"), 1);
  assertEquals(store.count("put", "b"), 0);
});

Deno.test("MemoryStore.onGet holds reads open until the test releases them", async () => {
  const store = new MemoryStore();
  await store.put("a", new Uint8Array([1]));
  await store.put("b", new Uint8Array([2]));
  const gates = new Map<string, PromiseWithResolvers<void>>();
  const entered: string[] = [];
  store.onGet = (key) => {
    entered.push(key);
    const gate = Promise.withResolvers<void>();
    gates.set(key, gate);
    return gate.promise;
  };
  let settled = 0;
  const a = store.getBytes("a").then((bytes) => (settled++, bytes));
  const b = store.get("b").then((got) => (settled++, got));
  await Promise.resolve();
  assertEquals(entered, ["a", "b"]);
  assertEquals(settled, 0);

  gates.get("b")!.resolve();
  const gotB = await b;
  assertEquals(settled, 1);
  assertEquals(
    new Uint8Array(await new Response(gotB.body).arrayBuffer()),
    new Uint8Array([2]),
  );

  gates.get("a")!.resolve();
  assertEquals(await a, new Uint8Array([1]));
  assertEquals(settled, 2);
});

Deno.test("MemoryStore copies bytes so callers cannot change stored objects", async () => {
  const store = new MemoryStore();
  const bytes = new Uint8Array([1, 2]);
  await store.put("a", bytes);
  bytes[0] = 9;
  const read = await store.getBytes("a");
  read[1] = 9;
  assertEquals(await store.getBytes("a"), new Uint8Array([1, 2]));
});
