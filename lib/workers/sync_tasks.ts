/**
 * The `sync` group's CPU tasks for offline device files (reference §6.1,
 * §6.2): decode a device file into canonical PCM, and find its speech
 * segments. Neither submits anything. Buffers go back transferred.
 *
 * Errors lose their class on the way out of a worker; a caller passes what
 * a task rejects with through {@linkcode syncTaskError} to get the
 * device-file errors back (and with them the 400 of an invalid file).
 *
 * @module
 */
import {
  decodeDeviceFile,
  DeviceFileDecodeError,
  InvalidDeviceFileError,
  parseDeviceFileName,
} from "../sync/device_file.ts";
import { detectSpeech, speechSegments } from "../sync/vad.ts";
import type { TaskTable } from "./task_host.ts";
import { WorkerTaskError } from "./worker_group.ts";

/** Task names, shared by the tasks and their callers. */
export const SYNC_TASKS = {
  deviceDecode: "device.decode",
  vadSegments: "vad.segments",
} as const;

/** Payload of {@linkcode SYNC_TASKS.deviceDecode}. */
export interface DeviceDecodePayload {
  /** The uploaded file's name, which says its codec and start time. */
  name: string;
  /** The file's bytes; transfer their buffer when the caller is done. */
  bytes: Uint8Array;
  /** Epoch ms, the upper bound of a valid timestamp. */
  now: number;
}

/** The table the sync worker entry serves. */
export const syncTasks: TaskTable = {
  /**
   * `{ name, bytes, now }` to canonical PCM (a `Uint8Array`, transferred).
   * Rejects like `parseDeviceFileName` and `decodeDeviceFile`.
   */
  [SYNC_TASKS.deviceDecode](payload: DeviceDecodePayload) {
    const info = parseDeviceFileName(payload.name, { now: payload.now });
    const pcm = owned(decodeDeviceFile(payload.bytes, info));
    return { value: pcm, transfer: [pcm.buffer] };
  },
  /**
   * Canonical PCM to speech segments `{ start, end }[]` in seconds, merged
   * and filtered by the §6.2 rules. Copy the PCM in rather than transfer it
   * when it is needed afterwards to cut the segments.
   */
  [SYNC_TASKS.vadSegments](pcm: Uint8Array) {
    return speechSegments(detectSpeech(pcm));
  },
};

/**
 * Rebuilds the device-file error a sync task threw inside a worker (where
 * it arrives as a `WorkerTaskError` named after it); returns any other
 * error as is.
 *
 * @example
 * ```ts ignore
 * try {
 *   pcm = await groups.run("sync", SYNC_TASKS.deviceDecode, payload);
 * } catch (error) {
 *   throw syncTaskError(error); // InvalidDeviceFileError is a 400
 * }
 * ```
 */
export function syncTaskError(error: unknown): unknown {
  if (!(error instanceof WorkerTaskError)) return error;
  switch (error.remoteName) {
    case "InvalidDeviceFileError":
      return new InvalidDeviceFileError(error.message);
    case "DeviceFileDecodeError":
      return new DeviceFileDecodeError(error.message);
    default:
      return error;
  }
}

/** A view that owns its whole buffer, so transferring it moves nothing else. */
function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}
