/**
 * The sync audio routes: chunk and batch uploads, precache, signed URLs and
 * the merged download (DESIGN.md section 6; reference section 5). The
 * literal `/urls` and `/precache` routes are registered before
 * `/{audio_file_id}` so they win.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { AppDeps, AppEnv } from "../lib/app_env.ts";
import { WAV_HEADER_BYTES } from "../lib/audio/wav.ts";
import type { AudioFile, Conversation } from "../lib/db/conversations.ts";
import { HttpError, OverloadedError } from "../lib/http_error.ts";
import {
  NotFoundError,
  TransientStorageError,
} from "../lib/storage/object_store.ts";
import { parseRange } from "../lib/http_range.ts";
import {
  parseChunkBytes,
  storeBatch,
  storeChunk,
} from "../lib/ingest/store_chunks.ts";
import {
  mergedKey,
  parseTimestampParam,
  validatePathId,
} from "../lib/storage/keys.ts";

/** Served merges may be cached by the user's own client for an hour. */
const DOWNLOAD_CACHE_CONTROL = "private, max-age=3600";
const LOCKED_DETAIL = "A paid plan is required to access this conversation.";
const DOWNLOAD_FORMATS = ["wav", "pcm"] as const;
type DownloadFormat = typeof DOWNLOAD_FORMATS[number];

type Deps = Pick<
  AppDeps,
  | "store"
  | "keys"
  | "settings"
  | "opus"
  | "conversations"
  | "mergedAudio"
  | "config"
  | "log"
  | "shutdown"
>;

/** Every `/v1/sync/audio/...` route. */
export function syncAudioRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const ingest = {
    store: deps.store,
    keys: deps.keys,
    settings: deps.settings,
    opus: deps.opus,
  };

  app.put("/v1/sync/audio/:cid/chunks/:ts", async (c) => {
    const cid = validatePathId("conversation_id", c.req.param("cid"));
    const ts = parseTimestampParam(c.req.param("ts"));
    const pcm = new Uint8Array(await c.req.arrayBuffer());
    const stored = await storeChunk(ingest, {
      uid: c.get("uid"),
      cid,
      ts,
      pcm,
    });
    return c.json(stored, 201);
  });

  app.put("/v1/sync/audio/:cid/batches/:range", async (c) => {
    const cid = validatePathId("conversation_id", c.req.param("cid"));
    const range = c.req.param("range");
    const match = /^([^-]+)-([^-]+)$/.exec(range);
    if (!match) {
      throw new HttpError(
        400,
        `Batch range "${range}" is not of the form {first}-{last}`,
      );
    }
    const first = parseTimestampParam(match[1]);
    const last = parseTimestampParam(match[2]);
    const chunkBytes = parseChunkBytes(c.req.query("chunk_bytes"));
    const pcm = new Uint8Array(await c.req.arrayBuffer());
    const stored = await storeBatch(ingest, {
      uid: c.get("uid"),
      cid,
      first,
      last,
      pcm,
      chunkBytes,
    });
    return c.json(stored, 201);
  });

  app.post("/v1/sync/audio/:cid/precache", async (c) => {
    const { uid, cid, files } = await openConversation(c, deps);
    if (files.length === 0) {
      return c.json({
        status: "no_audio",
        message: "No audio files in conversation",
      });
    }
    const count = deps.mergedAudio.precache(uid, cid, files, {
      signal: deps.shutdown,
    });
    return c.json({ status: "started", audio_file_count: count });
  });

  app.get("/v1/sync/audio/:cid/urls", async (c) => {
    const { uid, cid, files } = await openConversation(c, deps);
    const audioFiles = [];
    const later: AudioFile[] = [];
    let waitedForOne = false;
    for (const file of files.filter((f) => f.id)) {
      let url = await deps.mergedAudio.signedUrl(uid, cid, file.id);
      if (!url && file.chunk_timestamps.length > 0) {
        if (!waitedForOne) {
          // The first missing file is merged at interactive priority; the
          // request waits a short budget, never the whole merge.
          waitedForOne = true;
          const merge = deps.mergedAudio.startInBackground(
            { uid, cid, file, priority: "interactive" },
            { signal: deps.shutdown },
          );
          if (await within(merge, deps.config.urlsBudgetMs)) {
            url = await deps.mergedAudio.signedUrl(uid, cid, file.id);
          }
        } else {
          later.push(file);
        }
      }
      audioFiles.push({
        id: file.id,
        status: url ? "cached" : "pending",
        signed_url: url,
        duration: file.duration ?? 0,
      });
    }
    // The rest as precache: one file at a time, behind interactive work.
    deps.mergedAudio.precache(uid, cid, later, { signal: deps.shutdown });
    return c.json({ audio_files: audioFiles });
  });

  app.get("/v1/sync/audio/:cid/:fid", async (c) => {
    const format = (c.req.query("format") ?? "wav") as DownloadFormat;
    if (!DOWNLOAD_FORMATS.includes(format)) {
      throw new HttpError(
        422,
        `format must be "wav" or "pcm", got "${c.req.query("format")}"`,
      );
    }
    const fid = validatePathId("audio_file_id", c.req.param("fid"));
    const { uid, cid, files } = await openConversation(c, deps);
    const file = files.find((f) => f.id === fid);
    if (!file) throw new HttpError(404, "Audio file not found in conversation");
    if (file.chunk_timestamps.length === 0) {
      throw new HttpError(500, "Failed to download audio file");
    }
    const info = await downloadStep(() =>
      deps.mergedAudio.ensure({
        uid,
        cid,
        file,
        priority: "interactive",
        signal: c.req.raw.signal,
      })
    );
    const offset = format === "pcm" ? WAV_HEADER_BYTES : 0;
    const size = info.size - offset;
    const range = parseRange(c.req.header("Range"), size);
    const { info: read, body } = await downloadStep(() =>
      deps.store.get(mergedKey(uid, cid, fid), {
        range: range
          ? { start: range.start + offset, end: range.end + offset }
          : offset > 0
          ? { start: offset, end: info.size - 1 }
          : undefined,
        // No signal: a client that goes away cancels the body, which closes
        // the file, and an fs body without one is served natively.
      })
    );
    if (read.generation !== info.generation) {
      // Merged again between the check and the read: the sizes in the
      // headers would not describe this body.
      await body.cancel();
      throw new OverloadedError(
        "The merged audio changed while being read; try again",
        1,
      );
    }
    const headers: Record<string, string> = {
      "Content-Type": format === "wav"
        ? "audio/wav"
        : "application/octet-stream",
      "Content-Disposition":
        `attachment; filename=conversation_${cid}_audio_${fid}.${format}`,
      "Accept-Ranges": "bytes",
      "Cache-Control": DOWNLOAD_CACHE_CONTROL,
    };
    if (range) {
      headers["Content-Range"] = `bytes ${range.start}-${range.end}/${size}`;
      headers["Content-Length"] = String(range.end - range.start + 1);
      return c.body(body, 206, headers);
    }
    headers["Content-Length"] = String(size);
    return c.body(body, 200, headers);
  });

  return app;
}

/**
 * Runs one step of a download; an unexpected failure becomes the original's
 * 500 "Failed to download audio file" (reference 5.5), while 4xx and 503
 * replies keep their own status and detail.
 */
async function downloadStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof HttpError) throw error;
    if (error instanceof NotFoundError) {
      throw new OverloadedError(
        "The merged audio changed while being read; try again",
        1,
        error,
      );
    }
    if (error instanceof TransientStorageError) throw error;
    if (error instanceof DOMException && error.name === "AbortError") {
      throw error;
    }
    throw new HttpError(500, "Failed to download audio file", { cause: error });
  }
}

/** Checks in the original's order: conversation (404), lock (402). */
async function openConversation(
  c: Context<AppEnv>,
  deps: Deps,
): Promise<
  { uid: string; cid: string; conversation: Conversation; files: AudioFile[] }
> {
  const uid = c.get("uid");
  const cid = validatePathId("conversation_id", c.req.param("cid") ?? "");
  const conversation = await deps.conversations.get(uid, cid);
  if (!conversation) throw new HttpError(404, "Conversation not found");
  if (conversation.is_locked) throw new HttpError(402, LOCKED_DETAIL);
  const files = await deps.conversations.audioFiles(uid, cid);
  return { uid, cid, conversation, files };
}

/** Whether `promise` settles with a value within `ms`; never rejects. */
async function within<T>(promise: Promise<T>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return (await Promise.race([promise, timeout])) !== null;
  } finally {
    clearTimeout(timer);
  }
}
