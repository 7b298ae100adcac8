/**
 * `deno task demo`: against a running `deno task dev`, uploads a few minutes
 * of synthetic speech-like audio for the user `demo` in 5 s chunks (with one
 * gap longer than 90 s, so two audio files), creates the audio files,
 * downloads the first merged file and prints what to try next.
 *
 * Environment: `AUDIOSYNC_URL` (default http://127.0.0.1:8080), plus the
 * same `DATA_DIR` / `AUTH_JWT_SECRET` as the server so the token matches.
 *
 * @module
 */
import { loadOrCreateDevSecret, signDevToken } from "../lib/auth.ts";
import { loadConfig } from "../lib/config.ts";

/** Seconds of audio per uploaded chunk, as the devices send them. */
const CHUNK_SECONDS = 5;
/** Two recordings of this many chunks, separated by a silent gap. */
const CHUNKS_PER_RECORDING = 18;
/** Longer than the 90 s that opens a new audio file. */
const GAP_SECONDS = 120;

/** A speech-like PCM16 signal: a wandering pitch under a syllable envelope. */
function speechLike(seconds: number, seed: number): Uint8Array {
  const samples = seconds * 16000;
  const out = new Uint8Array(samples * 2);
  const view = new DataView(out.buffer);
  let phase = 0;
  for (let i = 0; i < samples; i++) {
    const t = i / 16000 + seed * seconds;
    const pitch = 140 + 40 * Math.sin(2 * Math.PI * 0.7 * t);
    phase += (2 * Math.PI * pitch) / 16000;
    const syllable = Math.max(0, Math.sin(2 * Math.PI * 4 * t));
    const voice = Math.sin(phase) + 0.4 * Math.sin(2 * phase) +
      0.2 * Math.sin(3 * phase);
    view.setInt16(i * 2, Math.round(voice * syllable * 6000), true);
  }
  return out;
}

async function check(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what} failed: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

if (import.meta.main) {
  const base = (Deno.env.get("AUDIOSYNC_URL") ?? "http://127.0.0.1:8080")
    .replace(/\/+$/, "");
  const config = loadConfig(Deno.env.toObject());
  const secret = config.authJwtSecret ??
    await loadOrCreateDevSecret(config.dataDir);
  const token = await signDevToken("demo", { secret });
  const auth = { Authorization: `Bearer ${token}` };
  const cid = `demo-${Date.now()}`;
  const start = Math.floor(Date.now() / 1000) - 3600;

  try {
    await fetch(`${base}/healthz`).then((r) => r.body?.cancel());
  } catch {
    console.error(
      `Cannot reach ${base}: start the service with 'deno task dev' first`,
    );
    Deno.exit(1);
  }

  let uploaded = 0;
  for (const recording of [0, 1]) {
    const offset = recording *
      (CHUNKS_PER_RECORDING * CHUNK_SECONDS + GAP_SECONDS);
    for (let i = 0; i < CHUNKS_PER_RECORDING; i++) {
      const ts = start + offset + i * CHUNK_SECONDS;
      const res = await fetch(`${base}/v1/sync/audio/${cid}/chunks/${ts}.000`, {
        method: "PUT",
        headers: { ...auth, "Content-Type": "application/octet-stream" },
        body: speechLike(CHUNK_SECONDS, i + recording * 100) as Uint8Array<
          ArrayBuffer
        >,
      });
      await check(res, `upload of chunk ${ts}`);
      uploaded++;
    }
  }
  console.log(
    `Uploaded ${uploaded} chunks of ${CHUNK_SECONDS} s to conversation ${cid}`,
  );

  const created = await check(
    await fetch(`${base}/v1/conversations/${cid}/audio-files`, {
      method: "POST",
      headers: auth,
    }),
    "creating audio files",
  ) as { audio_files: { id: string; duration: number }[] };
  for (const file of created.audio_files) {
    console.log(`  audio file ${file.id}: ${file.duration} s`);
  }

  const first = created.audio_files[0];
  const download = await fetch(`${base}/v1/sync/audio/${cid}/${first.id}`, {
    headers: auth,
  });
  const wav = new Uint8Array(await download.arrayBuffer());
  if (!download.ok) throw new Error(`download failed: ${download.status}`);
  const path = `${
    Deno.makeTempDirSync({ prefix: "audiosync-demo-" })
  }/${first.id}.wav`;
  await Deno.writeFile(path, wav);
  console.log(`Merged WAV of the first file (${wav.length} bytes): ${path}`);
  console.log(`
Next:
  export TOKEN=${token}
  curl -H "Authorization: Bearer $TOKEN" ${base}/v1/conversations/${cid}
  curl -H "Authorization: Bearer $TOKEN" ${base}/v1/sync/audio/${cid}/urls
  curl -H "Authorization: Bearer $TOKEN" -o first.wav ${base}/v1/sync/audio/${cid}/${first.id}
  curl -H "Authorization: Bearer $TOKEN" -H "Range: bytes=0-1023" -o head.bin ${base}/v1/sync/audio/${cid}/${first.id}?format=pcm
  curl ${base}/metrics`);
}
