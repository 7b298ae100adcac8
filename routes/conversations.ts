/**
 * Conversations and their audio files.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../lib/app_env.ts";
import { HttpError } from "../lib/http_error.ts";
import { buildAudioFiles } from "../lib/ingest/build_audio_files.ts";
import { mergedKey, validatePathId } from "../lib/storage/keys.ts";

/** `POST /v1/conversations/{cid}/audio-files`, `GET /v1/conversations/{cid}`. */
export function conversationRoutes(
  deps: Pick<
    AppDeps,
    | "store"
    | "keys"
    | "conversations"
    | "clock"
    | "mergedAudio"
    | "log"
    | "shutdown"
  >,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post("/v1/conversations/:cid/audio-files", async (c) => {
    const uid = c.get("uid");
    const cid = validatePathId("conversation_id", c.req.param("cid"));
    const { conversation, files, removed } = await buildAudioFiles(deps, {
      uid,
      cid,
    });
    for (const fid of removed) {
      // Stale merges of files that no longer exist; best effort.
      deps.store.delete(mergedKey(uid, cid, fid)).catch((error) =>
        deps.log({
          level: "warn",
          msg: "cannot delete stale merged audio",
          key: mergedKey(uid, cid, fid),
          error: String(error),
        })
      );
    }
    if (!conversation.is_locked) {
      deps.mergedAudio.precache(uid, cid, files, { signal: deps.shutdown });
    }
    return c.json({ conversation_id: cid, audio_files: files });
  });

  app.get("/v1/conversations/:cid", async (c) => {
    const cid = validatePathId("conversation_id", c.req.param("cid"));
    const conversation = await deps.conversations.getWithAudio(
      c.get("uid"),
      cid,
    );
    if (!conversation) throw new HttpError(404, "Conversation not found");
    return c.json(conversation);
  });

  return app;
}
