/**
 * The `storage` group's tasks: leaf CPU work on audio. None of them submits
 * anything (the group may wait on nothing; see `groups.ts`). Buffers come
 * in transferred and go back transferred.
 *
 * @module
 */
import { decodeOpus, encodeOpus } from "../audio/opus_codec.ts";
import type { TaskTable } from "./task_host.ts";

/** Task names, shared by the tasks and their callers. */
export const STORAGE_TASKS = {
  opusDecode: "opus.decode",
  opusEncode: "opus.encode",
} as const;

/** The table the storage worker entry serves. */
export const storageTasks: TaskTable = {
  [STORAGE_TASKS.opusDecode](container: Uint8Array) {
    const pcm = owned(decodeOpus(container));
    return { value: pcm, transfer: [pcm.buffer] };
  },
  [STORAGE_TASKS.opusEncode](pcm: Uint8Array) {
    const container = owned(encodeOpus(pcm));
    return { value: container, transfer: [container.buffer] };
  },
};

/** A view that owns its whole buffer, so transferring it moves nothing else. */
function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}
