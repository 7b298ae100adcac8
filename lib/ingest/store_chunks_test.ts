import { assertEquals } from "@std/assert";
import { KeyRing } from "../crypto/key_ring.ts";
import { UserSettingsRepo } from "../db/user_settings.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import type { ObjectStore } from "../storage/object_store.ts";
import { wrapStore } from "../../tests/wrap_store.ts";
import { storeChunk } from "./store_chunks.ts";

const TS = 1_717_171_717.5;
const PCM = new Uint8Array(640);

Deno.test("storeChunk() keeps another format written after it: two racing uploads never delete each other", async () => {
  await using kv = await Deno.openKv(":memory:");
  const memory = new MemoryStore();
  const otherKey = "chunks/u/c/1717171717.500.opus.enc";
  // Upload B (.opus.enc) lands between upload A's write and its clean-up.
  const store = wrapStore(memory, {
    async put(...args: Parameters<ObjectStore["put"]>) {
      const info = await memory.put(...args);
      await memory.put(otherKey, new Uint8Array([1, 2, 3]));
      return info;
    },
  });
  const deps = {
    store,
    keys: new KeyRing("store-chunks-test-secret-0123456789abcd"),
    settings: new UserSettingsRepo(kv),
  };
  await storeChunk(deps, { uid: "u", cid: "c", ts: TS, pcm: PCM });
  assertEquals(
    (await memory.list("chunks/")).map((o) => o.key).sort(),
    ["chunks/u/c/1717171717.500.opus", otherKey],
  );
  // The later upload's own clean-up then removes the older .opus.
  await storeChunk({ ...deps, store: memory }, {
    uid: "u",
    cid: "c",
    ts: TS,
    pcm: PCM,
  });
  assertEquals((await memory.list("chunks/")).length, 1);
});
