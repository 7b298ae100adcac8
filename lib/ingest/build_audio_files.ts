/**
 * Groups a conversation's stored chunks into audio files and saves them
 * (reference section 3), with exact durations: the original divided the
 * last object's byte size by 16,000, which is wrong for PCM16 (32,000 B/s)
 * and meaningless for Opus or encrypted objects.
 *
 * @module
 */
import { BYTES_PER_SECOND } from "../audio/wav.ts";
import type { Clock } from "../clock.ts";
import {
  EncryptionUnavailableError,
  type KeyRing,
} from "../crypto/key_ring.ts";
import type {
  AudioFile,
  Conversation,
  ConversationRepo,
} from "../db/conversations.ts";
import { knownPcmLength, probePcmLength } from "../merge/pcm_length.ts";
import {
  chunkPrefix,
  type ListedChunk,
  parseListing,
} from "../storage/keys.ts";
import { isTransient, type ObjectStore } from "../storage/object_store.ts";
import { groupChunks } from "./group_chunks.ts";

/** What building audio files needs. */
export interface BuildDeps {
  store: ObjectStore;
  keys: KeyRing;
  conversations: ConversationRepo;
  clock: Clock;
}

/** The saved files and the ids of files that no longer exist. */
export interface BuildResult {
  conversation: Conversation;
  files: AudioFile[];
  removed: string[];
}

/**
 * Lists the conversation's chunks once, groups them (a start more than 90 s
 * after the previous one opens a new file) and saves the files, creating the
 * conversation when the user has none of that id. A file whose chunk list is
 * unchanged keeps its id, so its merged cache stays valid; a file that
 * changed gets a new id, since its cached WAV no longer matches.
 *
 * @param deps store, keys, repository, clock
 * @param target the owner and conversation
 */
export async function buildAudioFiles(
  deps: BuildDeps,
  target: { uid: string; cid: string },
): Promise<BuildResult> {
  const { uid, cid } = target;
  const conversation = await deps.conversations.getOrCreate(
    uid,
    cid,
    new Date(deps.clock.now()),
  );
  const listed = await deps.store.list(chunkPrefix(uid, cid));
  const metadata = new Map(listed.map((info) => [info.key, info.metadata]));
  const groups = groupChunks(parseListing(listed));
  const previous = await deps.conversations.audioFiles(uid, cid);
  const idByChunks = new Map(
    previous.map((file) => [file.chunk_timestamps.join(","), file.id]),
  );

  const files: AudioFile[] = [];
  for (const group of groups) {
    const timestamps = group.map((chunk) => chunk.timestamp);
    const first = group[0];
    const last = group[group.length - 1];
    const lastBytes = await pcmLength(deps, uid, last, metadata.get(last.key));
    files.push({
      id: idByChunks.get(timestamps.join(",")) ?? crypto.randomUUID(),
      uid,
      conversation_id: cid,
      chunk_timestamps: timestamps,
      provider: "gcp",
      started_at: new Date(first.timestamp * 1000).toISOString(),
      duration: last.timestamp - first.timestamp + lastBytes / BYTES_PER_SECOND,
    });
  }
  const removed = await deps.conversations.replaceAudioFiles(
    conversation,
    files,
  );
  return {
    conversation: (await deps.conversations.get(uid, cid)) ?? conversation,
    files,
    removed,
  };
}

async function pcmLength(
  deps: BuildDeps,
  uid: string,
  chunk: ListedChunk,
  metadata: Record<string, string> | undefined,
): Promise<number> {
  const known = knownPcmLength(chunk, metadata);
  if (known !== undefined) return known;
  try {
    return await probePcmLength(chunk, {
      store: deps.store,
      keys: deps.keys,
      uid,
    });
  } catch (error) {
    if (isTransient(error) || error instanceof EncryptionUnavailableError) {
      throw error;
    }
    // An unreadable last object adds nothing; the merge treats it as absent.
    return 0;
  }
}
