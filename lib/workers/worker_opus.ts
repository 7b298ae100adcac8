/**
 * libopus in the `storage` worker group behind the `OpusEngine` interface,
 * so encoding on ingest and decoding in merges leave the event loop free.
 *
 * @module
 */
import type { OpusEngine } from "../audio/chunk_codec.ts";
import { STORAGE_TASKS } from "./storage_tasks.ts";
import { type WorkerGroup, WorkerTaskError } from "./worker_group.ts";
import { HttpError, OverloadedError } from "../http_error.ts";

/** A crashed or hung worker is replaced within seconds. */
const WORKER_RETRY_AFTER_SECONDS = 2;

/**
 * An Opus engine that runs in `group`. Inputs are transferred when they own
 * their buffer and copied otherwise, so a caller's other views stay intact.
 *
 * @param group the storage worker group
 */
export function workerOpusEngine(group: WorkerGroup): OpusEngine {
  return {
    encode: (pcm, signal) => run(group, STORAGE_TASKS.opusEncode, pcm, signal),
    decode: (container, signal) =>
      run(group, STORAGE_TASKS.opusDecode, container, signal),
  };
}

async function run(
  group: WorkerGroup,
  task: string,
  input: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const whole = input.byteOffset === 0 &&
    input.byteLength === input.buffer.byteLength &&
    input.buffer instanceof ArrayBuffer;
  const payload = whole ? input : input.slice();
  try {
    return await group.run<Uint8Array>(task, payload, {
      transfer: [payload.buffer as ArrayBuffer],
      signal,
    });
  } catch (error) {
    // The handler's own error (a corrupt container) is about the input.
    if (error instanceof WorkerTaskError || error instanceof HttpError) {
      throw error;
    }
    if (signal?.aborted) throw signal.reason;
    // A crash or timeout is about the group: never mistake it for a broken
    // chunk, which a merge would turn into cached silence.
    throw new OverloadedError(
      `Audio ${task} failed in the storage worker group; try again shortly`,
      WORKER_RETRY_AFTER_SECONDS,
      error,
    );
  }
}
