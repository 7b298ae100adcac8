/**
 * libopus in the `storage` worker group behind the `OpusEngine` interface,
 * so encoding on ingest and decoding in merges leave the event loop free.
 *
 * @module
 */
import type { OpusEngine } from "../audio/chunk_codec.ts";
import { STORAGE_TASKS } from "./storage_tasks.ts";
import type { WorkerGroup } from "./worker_group.ts";

/**
 * An Opus engine that runs in `group`. Inputs are transferred when they own
 * their buffer and copied otherwise, so a caller's other views stay intact.
 *
 * @param group the storage worker group
 */
export function workerOpusEngine(group: WorkerGroup): OpusEngine {
  return {
    encode: (pcm) => run(group, STORAGE_TASKS.opusEncode, pcm),
    decode: (container) => run(group, STORAGE_TASKS.opusDecode, container),
  };
}

function run(
  group: WorkerGroup,
  task: string,
  input: Uint8Array,
): Promise<Uint8Array> {
  const whole = input.byteOffset === 0 &&
    input.byteLength === input.buffer.byteLength &&
    input.buffer instanceof ArrayBuffer;
  const payload = whole ? input : input.slice();
  return group.run<Uint8Array>(task, payload, {
    transfer: [payload.buffer as ArrayBuffer],
  });
}
