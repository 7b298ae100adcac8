/**
 * Conversations and their audio files in Deno KV.
 *
 * Keys: `["conversations", uid, cid]` holds the conversation;
 * `["audio_files", uid, cid, fid]` holds one audio file each. Files live
 * apart from their conversation because KV values are capped at 64 KiB and
 * a long recording's chunk timestamps alone can approach that; chunk
 * timestamps are stored as a `Float64Array` (8 bytes each, so about 8,000
 * chunks, 11 hours of 5 s chunks, per file).
 *
 * Every lookup is under the caller's uid, so another user's conversation is
 * simply not found.
 *
 * @module
 */

/** One transcript segment; times in seconds from the conversation's start. */
export interface TranscriptSegment {
  text: string;
  start: number;
  end: number;
  speaker?: string;
}

/** An audio file of a conversation (reference section 3). */
export interface AudioFile {
  id: string;
  uid: string;
  conversation_id: string;
  /** Listed timestamps of the file's objects; a batch appears once, at `first`. */
  chunk_timestamps: number[];
  provider: "gcp";
  /** ISO-8601 UTC of the first timestamp. */
  started_at: string | null;
  /** Seconds, from the real PCM length of the last object. */
  duration: number;
}

/** A conversation as this service stores it. */
export interface Conversation {
  id: string;
  uid: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Locked conversations need a paid plan (402 on audio routes). */
  is_locked: boolean;
  discarded: boolean;
  transcript_segments: TranscriptSegment[];
}

/** A conversation together with its audio files in time order. */
export interface ConversationWithAudio extends Conversation {
  audio_files: AudioFile[];
}

interface StoredAudioFile extends Omit<AudioFile, "chunk_timestamps"> {
  chunk_timestamps: Float64Array;
  /** Absent on records written before fingerprints existed. */
  fingerprint?: string;
}

/** KV key prefixes, named once. */
const CONVERSATIONS = "conversations";
const AUDIO_FILES = "audio_files";
/** KV allows at most this many mutations in one atomic operation. */
const MAX_ATOMIC_MUTATIONS = 1000;

/**
 * Reads and writes conversations and audio files.
 *
 * @example
 * ```ts ignore
 * const repo = new ConversationRepo(kv);
 * const conversation = await repo.getOrCreate("u1", "c1", new Date());
 * ```
 */
export class ConversationRepo {
  #kv: Deno.Kv;

  /** @param kv the store */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** The conversation, or null when the user has none of that id. */
  async get(uid: string, cid: string): Promise<Conversation | null> {
    const entry = await this.#kv.get<Conversation>([CONVERSATIONS, uid, cid]);
    return entry.value;
  }

  /** The conversation with its audio files, or null. */
  async getWithAudio(
    uid: string,
    cid: string,
  ): Promise<ConversationWithAudio | null> {
    const conversation = await this.get(uid, cid);
    if (!conversation) return null;
    return { ...conversation, audio_files: await this.audioFiles(uid, cid) };
  }

  /** Creates the conversation when the user has none of that id. */
  async getOrCreate(
    uid: string,
    cid: string,
    now: Date,
  ): Promise<Conversation> {
    const key = [CONVERSATIONS, uid, cid];
    const fresh: Conversation = {
      id: cid,
      uid,
      created_at: now.toISOString(),
      started_at: null,
      finished_at: null,
      is_locked: false,
      discarded: false,
      transcript_segments: [],
    };
    // Create-if-absent: two concurrent creators agree on one record.
    const result = await this.#kv.atomic()
      .check({ key, versionstamp: null })
      .set(key, fresh)
      .commit();
    if (result.ok) return fresh;
    return (await this.get(uid, cid)) ?? fresh;
  }

  /** Writes the whole conversation record. */
  async put(conversation: Conversation): Promise<void> {
    await this.#kv.set(
      [CONVERSATIONS, conversation.uid, conversation.id],
      conversation,
    );
  }

  /** The conversation's audio files, sorted by their first timestamp. */
  async audioFiles(uid: string, cid: string): Promise<AudioFile[]> {
    const files: AudioFile[] = [];
    for await (
      const entry of this.#kv.list<StoredAudioFile>({
        prefix: [AUDIO_FILES, uid, cid],
      })
    ) {
      files.push(fromStored(entry.value));
    }
    return files.sort((a, b) =>
      (a.chunk_timestamps[0] ?? 0) - (b.chunk_timestamps[0] ?? 0)
    );
  }

  /** One audio file of the conversation, or null. */
  async audioFile(
    uid: string,
    cid: string,
    fid: string,
  ): Promise<AudioFile | null> {
    const entry = await this.#kv.get<StoredAudioFile>([
      AUDIO_FILES,
      uid,
      cid,
      fid,
    ]);
    return entry.value ? fromStored(entry.value) : null;
  }

  /**
   * The conversation with its version and its audio files with their
   * fingerprints, read for a compare-and-set with
   * {@linkcode ConversationRepo.prototype.commitAudioFiles}.
   */
  async snapshot(uid: string, cid: string): Promise<AudioFilesSnapshot | null> {
    const entry = await this.#kv.get<Conversation>([CONVERSATIONS, uid, cid]);
    if (!entry.value) return null;
    const files: FingerprintedAudioFile[] = [];
    for await (
      const stored of this.#kv.list<StoredAudioFile>({
        prefix: [AUDIO_FILES, uid, cid],
      })
    ) {
      files.push({
        file: fromStored(stored.value),
        fingerprint: stored.value.fingerprint ?? "",
      });
    }
    return {
      conversation: entry.value,
      versionstamp: entry.versionstamp,
      files,
    };
  }

  /**
   * Replaces the conversation's audio files in one atomic operation and sets
   * its `started_at` and `finished_at` from them, provided the conversation
   * did not change since `snapshot` was read (every replace rewrites it, so
   * two overlapping rebuilds cannot interleave their files).
   *
   * @returns the ids of removed files, or null when the snapshot is stale
   */
  async commitAudioFiles(
    snapshot: AudioFilesSnapshot,
    files: FingerprintedAudioFile[],
  ): Promise<string[] | null> {
    const { conversation } = snapshot;
    const { uid, id: cid } = conversation;
    const keep = new Set(files.map(({ file }) => file.id));
    const removed = snapshot.files
      .map(({ file }) => file.id)
      .filter((id) => !keep.has(id));
    if (removed.length + files.length + 1 > MAX_ATOMIC_MUTATIONS) {
      throw new RangeError(
        `Cannot save ${files.length} audio files: more than one atomic KV operation holds`,
      );
    }
    const op = this.#kv.atomic().check({
      key: [CONVERSATIONS, uid, cid],
      versionstamp: snapshot.versionstamp,
    });
    for (const fid of removed) op.delete([AUDIO_FILES, uid, cid, fid]);
    for (const { file, fingerprint } of files) {
      op.set([AUDIO_FILES, uid, cid, file.id], toStored(file, fingerprint));
    }
    const first = files[0]?.file;
    const last = files.at(-1)?.file;
    op.set([CONVERSATIONS, uid, cid], {
      ...conversation,
      started_at: first?.started_at ?? conversation.started_at,
      finished_at: last
        ? new Date(
          ((last.chunk_timestamps[0] ?? 0) + last.duration) * 1000,
        ).toISOString()
        : conversation.finished_at,
    });
    const result = await op.commit();
    return result.ok ? removed : null;
  }
}

/** An audio file and the fingerprint of the objects it was built from. */
export interface FingerprintedAudioFile {
  file: AudioFile;
  /** Changes when any of the file's objects is written again. */
  fingerprint: string;
}

/** What {@linkcode ConversationRepo.prototype.snapshot} read. */
export interface AudioFilesSnapshot {
  conversation: Conversation;
  versionstamp: string;
  files: FingerprintedAudioFile[];
}

function toStored(file: AudioFile, fingerprint: string): StoredAudioFile {
  return {
    ...file,
    chunk_timestamps: Float64Array.from(file.chunk_timestamps),
    fingerprint,
  };
}

function fromStored(stored: StoredAudioFile): AudioFile {
  const { fingerprint: _fingerprint, ...file } = stored;
  return { ...file, chunk_timestamps: Array.from(file.chunk_timestamps) };
}
