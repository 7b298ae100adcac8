import { assertEquals, assertExists } from "@std/assert";
import { type AudioFile, ConversationRepo } from "./conversations.ts";

function audioFile(id: string, first: number): AudioFile {
  return {
    id,
    uid: "u",
    conversation_id: "c",
    chunk_timestamps: [first, first + 5],
    provider: "gcp",
    started_at: new Date(first * 1000).toISOString(),
    duration: 10,
  };
}

Deno.test("ConversationRepo.commitAudioFiles() refuses a stale snapshot, so overlapping rebuilds cannot interleave", async () => {
  await using kv = await Deno.openKv(":memory:");
  const repo = new ConversationRepo(kv);
  await repo.getOrCreate("u", "c", new Date(0));
  const a = await repo.snapshot("u", "c");
  const b = await repo.snapshot("u", "c");
  assertExists(a);
  assertExists(b);
  assertEquals(
    await repo.commitAudioFiles(a, [{
      file: audioFile("x", 100),
      fingerprint: "fx",
    }]),
    [],
  );
  assertEquals(
    await repo.commitAudioFiles(b, [{
      file: audioFile("y", 100),
      fingerprint: "fy",
    }]),
    null,
  );
  const files = await repo.audioFiles("u", "c");
  assertEquals(files.map((f) => f.id), ["x"]);
  // The fingerprint stays internal: readers get the original's fields only.
  assertEquals(
    Object.keys(files[0]).sort(),
    Object.keys(audioFile("x", 100)).sort(),
  );
  const fresh = await repo.snapshot("u", "c");
  assertEquals(fresh?.files.map((f) => f.fingerprint), ["fx"]);
  assertEquals(
    await repo.commitAudioFiles(fresh!, [{
      file: audioFile("z", 200),
      fingerprint: "fz",
    }]),
    ["x"],
  );
  const conversation = await repo.get("u", "c");
  assertEquals(conversation?.started_at, new Date(200_000).toISOString());
  assertEquals(conversation?.finished_at, new Date(210_000).toISOString());
});

Deno.test("ConversationRepo.getOrCreate() keeps the first record when two callers create at once", async () => {
  await using kv = await Deno.openKv(":memory:");
  const repo = new ConversationRepo(kv);
  const [one, two] = await Promise.all([
    repo.getOrCreate("u", "c", new Date(1000)),
    repo.getOrCreate("u", "c", new Date(2000)),
  ]);
  assertEquals(one.created_at, two.created_at);
  assertEquals((await repo.get("u", "c"))?.created_at, one.created_at);
});
