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
  AudioFilesSnapshot,
  Conversation,
  ConversationRepo,
  FingerprintedAudioFile,
} from "../db/conversations.ts";
import { OverloadedError } from "../http_error.ts";
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
 * conversation when the user has none of that id. A file whose objects are
 * unchanged (same keys, same generations) keeps its id, so its merged cache
 * stays valid; a file that changed, including a chunk uploaded again at the
 * same timestamp, gets a new id, since its cached WAV no longer matches.
 *
 * @param deps store, keys, repository, clock
 * @param target the owner and conversation
 */
export async function buildAudioFiles(
  deps: BuildDeps,
  target: { uid: string; cid: string },
): Promise<BuildResult> {
  const { uid, cid } = target;
  await deps.conversations.getOrCreate(uid, cid, new Date(deps.clock.now()));
  for (let attempt = 1;; attempt++) {
    const snapshot = await deps.conversations.snapshot(uid, cid);
    if (!snapshot) throw new Error(`Conversation ${cid} vanished while saving`);
    const files = await groupIntoFiles(deps, target, snapshot);
    const removed = await deps.conversations.commitAudioFiles(snapshot, files);
    if (removed) {
      return {
        conversation: (await deps.conversations.get(uid, cid)) ??
          snapshot.conversation,
        files: files.map(({ file }) => file),
        removed,
      };
    }
    // Another rebuild of this conversation committed first: list again.
    if (attempt >= MAX_SAVE_ATTEMPTS) {
      throw new OverloadedError(
        "Audio files of this conversation are being rebuilt; try again",
        1,
      );
    }
  }
}

/** Rebuilds that lose a race this often in a row answer 503. */
const MAX_SAVE_ATTEMPTS = 5;

async function groupIntoFiles(
  deps: BuildDeps,
  target: { uid: string; cid: string },
  snapshot: AudioFilesSnapshot,
): Promise<FingerprintedAudioFile[]> {
  const { uid, cid } = target;
  const listed = await deps.store.list(chunkPrefix(uid, cid));
  const byKey = new Map(listed.map((info) => [info.key, info]));
  const groups = groupChunks(parseListing(listed));
  // Same objects, same generations: same file, same id, same cached WAV.
  const idByFingerprint = new Map(
    snapshot.files.map(({ file, fingerprint }) => [fingerprint, file.id]),
  );
  const files: FingerprintedAudioFile[] = [];
  for (const group of groups) {
    const first = group[0];
    const last = group[group.length - 1];
    const fingerprint = group
      .map((chunk) => `${chunk.key}#${byKey.get(chunk.key)?.generation ?? ""}`)
      .join("|");
    const lastBytes = await pcmLength(
      deps,
      uid,
      last,
      byKey.get(last.key)?.metadata,
    );
    files.push({
      fingerprint,
      file: {
        id: idByFingerprint.get(fingerprint) ?? crypto.randomUUID(),
        uid,
        conversation_id: cid,
        chunk_timestamps: group.map((chunk) => chunk.timestamp),
        provider: "gcp",
        started_at: new Date(first.timestamp * 1000).toISOString(),
        duration: last.timestamp - first.timestamp +
          lastBytes / BYTES_PER_SECOND,
      },
    });
  }
  return files;
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
