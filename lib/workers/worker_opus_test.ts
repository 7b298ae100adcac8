import { assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
import { ChunkDecodeError, decodeChunk } from "../audio/chunk_codec.ts";
import { decodeOpus, encodeOpus } from "../audio/opus_codec.ts";
import { OverloadedError } from "../http_error.ts";
import { storageTasks } from "./storage_tasks.ts";
import { WorkerGroup } from "./worker_group.ts";
import { workerOpusEngine } from "./worker_opus.ts";

function group(entry: URL): WorkerGroup {
  return new WorkerGroup({
    name: "storage",
    size: 1,
    entry,
    tasks: () => Promise.resolve(storageTasks),
    maxQueued: 4,
    taskTimeoutMs: 30_000,
  });
}

const noKey = () => Promise.reject(new Error("no key needed"));

Deno.test("workerOpusEngine decodes in a real worker exactly as on the main isolate, leaving the caller's view intact", async () => {
  const storage = group(new URL("./storage_entry.ts", import.meta.url));
  try {
    const pcm = new Uint8Array(6400).map((_, i) => (i * 7) & 0xff);
    const container = encodeOpus(pcm);
    // A view into a larger buffer is copied, not transferred.
    const backing = new Uint8Array(container.length + 10);
    backing.set(container, 5);
    const view = backing.subarray(5, 5 + container.length);
    const decoded = await workerOpusEngine(storage).decode(view);
    assertEquals(decoded, decodeOpus(container));
    assertEquals(backing.byteLength, container.length + 10);
  } finally {
    await storage.close();
  }
});

Deno.test("a corrupt container in a worker is a ChunkDecodeError, so the merge falls through to the next format", async () => {
  const storage = group(new URL("./storage_entry.ts", import.meta.url));
  try {
    const error = await assertRejects(
      () =>
        decodeChunk(
          "opus",
          new Uint8Array([1, 2, 3]),
          noKey,
          workerOpusEngine(storage),
        ),
      ChunkDecodeError,
    );
    assertEquals(error.ext, "opus");
  } finally {
    await storage.close();
  }
});

Deno.test("a worker that dies while decoding is a 503, never a broken chunk that would be cached as silence", async () => {
  const storage = group(
    new URL(
      "../../tests/fixtures/workers/crashing_storage_worker.ts",
      import.meta.url,
    ),
  );
  try {
    const error = await assertRejects(
      () =>
        decodeChunk(
          "opus",
          encodeOpus(new Uint8Array(640)),
          noKey,
          workerOpusEngine(storage),
        ),
    );
    assertInstanceOf(error, OverloadedError);
    assertEquals(error.status, 503);
  } finally {
    await storage.close();
  }
});
