/**
 * The `sync` group's device-file tasks on real Deno Web Workers: decoding
 * PCM and Opus device files, VAD, and errors that come back from a worker
 * as the device-file errors a route maps to replies. Every test closes its
 * groups, so the sanitizers see no worker left running.
 *
 * @module
 */
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertInstanceOf,
  assertRejects,
} from "@std/assert";
import OpusScript from "opusscript";
import {
  createWorkerGroups,
  type WorkerGroups,
} from "../lib/workers/groups.ts";
import {
  type DeviceDecodePayload,
  SYNC_TASKS,
  syncTaskError,
} from "../lib/workers/sync_tasks.ts";
import {
  DeviceFileDecodeError,
  InvalidDeviceFileError,
} from "../lib/sync/device_file.ts";
import type { SpeechInterval } from "../lib/sync/vad.ts";
import { WorkerTaskError } from "../lib/workers/worker_group.ts";
import type { MetricFamily } from "../lib/metrics.ts";
import { deviceFrameStream as frameStream } from "./audio_fixtures.ts";

const RATE = 16000;
/** 2024-06-01T00:00:00Z in ms. */
const NOW = Date.UTC(2024, 5, 1);
const TS = 1717000000;
/** 10 ms at 16 kHz, the devices' default Opus frame (reference §6.1). */
const FRAME_SIZE = 160;

function startGroups(): WorkerGroups {
  return createWorkerGroups({
    storageEntry: new URL("../lib/workers/storage_entry.ts", import.meta.url),
    storageTasks: () =>
      import("../lib/workers/storage_tasks.ts").then((m) => m.storageTasks),
    syncEntry: new URL("../lib/workers/sync_entry.ts", import.meta.url),
    syncTasks: () =>
      import("../lib/workers/sync_tasks.ts").then((m) => m.syncTasks),
    storageSize: 1,
    syncSize: 1,
    mode: "workers",
  });
}

function gauge(families: MetricFamily[], name: string, group: string) {
  return families
    .find((family) => family.name === `audiosync_worker_group_${name}`)
    ?.samples.find((sample) => sample.labels?.group === group)?.value;
}

/** Runs `body` with fresh groups, and proves they end with no worker. */
async function withGroups(
  body: (groups: WorkerGroups) => Promise<void>,
): Promise<void> {
  const groups = startGroups();
  try {
    await body(groups);
  } finally {
    await groups.close();
  }
  assertEquals(gauge(groups.collect(), "workers", "sync"), 0);
  assertEquals(gauge(groups.collect(), "workers", "storage"), 0);
}

/** `before` s of silence, `tone` s of a 200 Hz tone, `after` s of silence. */
function burst(before: number, tone: number, after: number): Int16Array {
  const start = Math.round(before * RATE);
  const end = start + Math.round(tone * RATE);
  const out = new Int16Array(end + Math.round(after * RATE));
  for (let i = start; i < end; i++) {
    out[i] = Math.round(8000 * Math.sin(2 * Math.PI * 200 * i / RATE));
  }
  return out;
}

function bytesOf(samples: Int16Array): Uint8Array {
  return new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
}

/** PCM16 frames of 100 ms, the way a device writes a `_pcm16_` file. */
function pcmFile(samples: Int16Array): Uint8Array {
  const bytes = bytesOf(samples);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 3200) {
    frames.push(bytes.subarray(i, i + 3200));
  }
  return frameStream(frames);
}

/** One Opus packet per 10 ms frame, encoded with opusscript. */
function opusFile(samples: Int16Array): Uint8Array {
  const encoder = new OpusScript(RATE, 1, OpusScript.Application.VOIP);
  try {
    const bytes = bytesOf(samples);
    const packets: Uint8Array[] = [];
    for (let i = 0; i + FRAME_SIZE * 2 <= bytes.length; i += FRAME_SIZE * 2) {
      const frame = bytes.subarray(i, i + FRAME_SIZE * 2);
      // The package's typings want a Node Buffer; it reads the bytes.
      packets.push(encoder.encode(frame as never, FRAME_SIZE).slice());
    }
    return frameStream(packets);
  } finally {
    encoder.delete();
  }
}

function decode(
  groups: WorkerGroups,
  payload: DeviceDecodePayload,
): Promise<Uint8Array> {
  return groups.run<Uint8Array>("sync", SYNC_TASKS.deviceDecode, payload, {
    transfer: [payload.bytes.buffer as ArrayBuffer],
  });
}

Deno.test("sync group decodes a PCM16 device file and moves the buffers", async () => {
  await withGroups(async (groups) => {
    const samples = burst(0.5, 1, 0.5);
    const bytes = pcmFile(samples);
    const pcm = await decode(groups, {
      name: `audio_omi_pcm16_16000_1_${TS}.bin`,
      bytes,
      now: NOW,
    });
    // Transferred in: the caller's buffer is gone.
    assertEquals(bytes.byteLength, 0);
    assertInstanceOf(pcm, Uint8Array);
    assertEquals(pcm, bytesOf(samples));
  });
});

Deno.test("sync group decodes an Opus device file at frame size 160", async () => {
  await withGroups(async (groups) => {
    const samples = burst(0.2, 1, 0.2);
    const pcm = await decode(groups, {
      name: `audio_omi_opus_16000_1_fs160_${TS}.bin`,
      bytes: opusFile(samples),
      now: NOW,
    });
    assertEquals(pcm.length, samples.byteLength);
    // Lossy: prove there is audio where the tone was, not exact samples.
    const decoded = new Int16Array(pcm.slice().buffer);
    const peak = decoded.reduce((max, s) => Math.max(max, Math.abs(s)), 0);
    assert(peak > 2000, `peak ${peak}`);
  });
});

Deno.test("sync group finds speech segments in decoded audio", async () => {
  await withGroups(async (groups) => {
    const pcm = await decode(groups, {
      name: `audio_omi_pcm16_${TS}.bin`,
      bytes: pcmFile(burst(1, 1.5, 1)),
      now: NOW,
    });
    const segments = await groups.run<SpeechInterval[]>(
      "sync",
      SYNC_TASKS.vadSegments,
      pcm,
    );
    assertEquals(segments.length, 1, JSON.stringify(segments));
    assertAlmostEquals(segments[0].start, 1, 0.03);
    assertAlmostEquals(segments[0].end, 2.5, 0.03);
    // Not transferred, so the caller still has the PCM to cut segments.
    assertEquals(pcm.length, 3.5 * RATE * 2);

    const silent = await groups.run<SpeechInterval[]>(
      "sync",
      SYNC_TASKS.vadSegments,
      new Uint8Array(RATE * 2),
    );
    assertEquals(silent, []);
  });
});

Deno.test("sync group errors come back as device-file errors through syncTaskError()", async () => {
  await withGroups(async (groups) => {
    const badName = await assertRejects(
      () =>
        decode(groups, {
          name: "audio_notatime.bin",
          bytes: pcmFile(burst(0, 0.1, 0)),
          now: NOW,
        }),
      WorkerTaskError,
    );
    const invalid = syncTaskError(badName);
    assertInstanceOf(invalid, InvalidDeviceFileError);
    assertEquals(invalid.status, 400);
    assertEquals(
      invalid.message,
      "Invalid file format audio_notatime.bin, missing/invalid timestamp",
    );

    const emptyName = `audio_omi_pcm16_${TS}.bin`;
    const empty = syncTaskError(
      await assertRejects(() =>
        decode(groups, { name: emptyName, bytes: new Uint8Array(4), now: NOW })
      ),
    );
    assertInstanceOf(empty, InvalidDeviceFileError);
    assertEquals(empty.message, `Invalid file format ${emptyName}`);

    const undecodable = syncTaskError(
      await assertRejects(() =>
        decode(groups, {
          name: `audio_omi_fs160_${TS}.bin`,
          bytes: frameStream([new Uint8Array([0x03])]),
          now: NOW,
        })
      ),
    );
    assertInstanceOf(undecodable, DeviceFileDecodeError);

    // Any other error passes through as it was.
    const other = new Error("boom");
    assertEquals(syncTaskError(other), other);
  });
});
