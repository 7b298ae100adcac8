// The whole service as it runs: Deno.serve, real storage workers, the
// filesystem store and KV on disk, then a shutdown that drains an upload in
// flight.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { loadConfig } from "../lib/config.ts";
import { startService } from "../lib/service.ts";
import { parseWavHeader } from "../lib/audio/wav.ts";
import { tonePcm } from "./audio_fixtures.ts";
import {
  TEST_ENCRYPTION_SECRET,
  TEST_JWT_SECRET,
  tokenFor,
  withTempDir,
} from "./test_utils.ts";

const BASE = 1_717_171_800;

Deno.test("the service stores, groups and merges through real workers and drains an upload in flight on shutdown", async () => {
  await withTempDir(async (dir) => {
    const logs: Record<string, unknown>[] = [];
    const config = loadConfig({
      PORT: "0",
      HOSTNAME: "127.0.0.1",
      DATA_DIR: dir,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_SECRET: TEST_ENCRYPTION_SECRET,
      WORKERS_STORAGE: "2",
      WORKERS_SYNC: "1",
    });
    const service = await startService(config, {
      log: (e) => {
        logs.push(e);
        if (e.level === "error") console.error(e);
      },
    });
    const base = `http://127.0.0.1:${service.addr.port}`;
    const auth = { Authorization: `Bearer ${await tokenFor("e2e-user")}` };
    let stopped = false;
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(
          `${base}/v1/sync/audio/conv/chunks/${BASE + i * 5}`,
          {
            method: "PUT",
            headers: auth,
            body: tonePcm(5, 200 + i * 50) as Uint8Array<ArrayBuffer>,
          },
        );
        assertEquals(res.status, 201, await res.text());
      }
      const created =
        await (await fetch(`${base}/v1/conversations/conv/audio-files`, {
          method: "POST",
          headers: auth,
        })).json();
      assertEquals(created.audio_files.length, 1);
      assertEquals(created.audio_files[0].duration, 15);
      const download = await fetch(
        `${base}/v1/sync/audio/conv/${created.audio_files[0].id}`,
        {
          headers: auth,
        },
      );
      const wav = new Uint8Array(await download.arrayBuffer());
      assertEquals(download.status, 200);
      assertEquals(parseWavHeader(wav).dataBytes, 15 * 32000);

      // With PORT=0, signed URLs still point at the port actually bound.
      const urls = await (await fetch(`${base}/v1/sync/audio/conv/urls`, {
        headers: auth,
      })).json();
      const signed = urls.audio_files[0].signed_url as string;
      assert(signed.startsWith(`${base}/v1/blobs/`), signed);
      const blob = await fetch(signed);
      assertEquals(new Uint8Array(await blob.arrayBuffer()), wav);

      const metrics = await (await fetch(`${base}/metrics`)).text();
      const completed =
        /audiosync_worker_group_tasks_completed_total\{group="storage"\} (\d+)/
          .exec(metrics);
      // 3 encodes on upload and 3 decodes in the merge ran in the workers.
      assert(completed && Number(completed[1]) >= 6, metrics);
      assertStringIncludes(
        metrics,
        'audiosync_limiter_permits{limiter="storage.chunk"} 32',
      );

      // An upload whose body is still arriving when shutdown starts.
      const pcm = tonePcm(1, 300);
      const body = new TransformStream<Uint8Array, Uint8Array>();
      const writer = body.writable.getWriter();
      const upload = fetch(`${base}/v1/sync/audio/conv/chunks/${BASE + 60}`, {
        method: "PUT",
        headers: auth,
        body: body.readable,
        // @ts-ignore: Deno's fetch takes `duplex` for streamed bodies
        duplex: "half",
      });
      await writer.write(pcm.subarray(0, 16000));
      // Wait until the server runs the upload's handler: the in-flight gauge
      // counts it and the /metrics request itself.
      while (true) {
        const text = await (await fetch(`${base}/metrics`)).text();
        if (/audiosync_http_requests_in_flight 2\n/.test(text)) break;
      }
      const stopping = service.shutdown();
      await writer.write(pcm.subarray(16000));
      await writer.close();
      const res = await upload;
      assertEquals(res.status, 201, await res.text());
      await stopping;
      stopped = true;
      const last = logs.at(-1);
      assertEquals(last?.msg, "stopped");
      assertEquals(last?.outcome, "drained");
    } finally {
      if (!stopped) await service.shutdown();
    }
    // Acknowledged means durable: the object is on disk after the stop.
    const stat = await Deno.stat(
      `${dir}/storage/omi-private-cloud-sync/chunks/e2e-user/conv/${
        BASE + 60
      }.000.opus`,
    );
    assert(stat.isFile);
  });
});
