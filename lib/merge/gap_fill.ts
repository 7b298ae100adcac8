/**
 * The original's gap-filling arithmetic (reference 4.1 step 6), kept in one
 * place so that planning the WAV size and streaming the PCM agree to the
 * byte.
 *
 * @module
 */
import { BYTES_PER_SECOND, SAMPLE_RATE } from "../audio/wav.ts";

/** Bytes of one PCM16 sample. */
const BYTES_PER_SAMPLE = 2;

/** Tracks the cursor of one assembly. */
export class GapFiller {
  #cursor: number | undefined;

  /**
   * @param firstRequested the earliest requested timestamp: a missing first
   *   chunk becomes leading silence
   */
  constructor(firstRequested: number) {
    this.#cursor = firstRequested;
  }

  /**
   * Bytes of silence to put before a chunk of `pcmBytes` bytes at `t`, and
   * moves the cursor past the chunk. Overlaps are not trimmed, as in the
   * original; the float64 operations run in the original's order.
   *
   * @param t the chunk's timestamp
   * @param pcmBytes the chunk's PCM length
   */
  advance(t: number, pcmBytes: number): number {
    const gap = t - (this.#cursor ?? t);
    const silence = gap > 0
      ? Math.trunc(gap * SAMPLE_RATE) * BYTES_PER_SAMPLE
      : 0;
    this.#cursor = t + pcmBytes / BYTES_PER_SECOND;
    return silence;
  }
}
