/**
 * Voice activity detection for offline device files (reference §6.2): an
 * energy detector that finds speech intervals in canonical PCM, and the
 * rules that turn intervals into the segments the sync pipeline handles.
 *
 * The original's model is unconfirmed and any detector that fills the
 * interface will do, so this one is small and deterministic:
 *
 * 1. Split the audio into {@linkcode VAD_FRAME_MS} frames and take each
 *    frame's RMS level in dBFS.
 * 2. Track a noise floor: it starts at a low percentile of every frame's
 *    level (the detector sees the whole file), falls at once to any quieter
 *    frame and rises at most {@linkcode FLOOR_RISE_DB_PER_SECOND}, so it
 *    follows a changing background without swallowing speech.
 * 3. A frame is voiced when its level is at least
 *    {@linkcode SPEECH_MARGIN_DB} above the floor and above
 *    {@linkcode MIN_SPEECH_LEVEL_DBFS}.
 * 4. Voiced runs closer than {@linkcode HANGOVER_MS} join (the hangover);
 *    runs shorter than {@linkcode MIN_SPEECH_MS} are clicks and go.
 *
 * @module
 */
import { SAMPLE_RATE } from "../audio/wav.ts";

/** One stretch of speech, in seconds from the start of the audio. */
export interface SpeechInterval {
  start: number;
  end: number;
}

/** Frame length: 30 ms, the longest frame WebRTC's VAD uses. */
export const VAD_FRAME_MS = 30;
/** Samples in one frame at 16 kHz: 480. */
export const VAD_FRAME_SAMPLES = SAMPLE_RATE * VAD_FRAME_MS / 1000;
/**
 * A voiced frame stands this far above the noise floor: 12 dB, four times
 * the noise's amplitude, well above the ±1–2 dB a steady noise wanders
 * frame to frame.
 */
export const SPEECH_MARGIN_DB = 12;
/**
 * Frames quieter than −50 dBFS are never speech, however quiet the room: a
 * voice at arm's length from a wearable's microphone is far louder.
 */
export const MIN_SPEECH_LEVEL_DBFS = -50;
/**
 * How fast the noise floor may rise: 3 dB per second, so a 10 s sentence
 * without a pause lifts it at most 30 dB, while a background that gets
 * louder is followed within seconds.
 */
export const FLOOR_RISE_DB_PER_SECOND = 3;
/**
 * The floor starts at this quantile of all frame levels: the quietest tenth
 * of a recording is background, not speech.
 */
export const FLOOR_SEED_QUANTILE = 0.1;
/** Voiced runs at most 300 ms apart join: the pauses inside a sentence. */
export const HANGOVER_MS = 300;
/** Voiced runs shorter than 90 ms (three frames) are clicks, not speech. */
export const MIN_SPEECH_MS = 90;
/** The level of digital silence, so that log(0) stays finite. */
const SILENCE_DBFS = -100;
/** Full scale of a 16-bit sample. */
const FULL_SCALE = 32768;

/**
 * Consecutive intervals less than 120 s apart form one segment
 * (reference §6.2).
 */
export const SEGMENT_MAX_GAP_SECONDS = 120;
/** Segments shorter than 1 s are dropped (reference §6.2). */
export const SEGMENT_MIN_SECONDS = 1;

/** Options of {@linkcode detectSpeech}; defaults are the constants above. */
export interface DetectSpeechOptions {
  /** Default {@linkcode SPEECH_MARGIN_DB}. */
  marginDb?: number;
  /** Default {@linkcode MIN_SPEECH_LEVEL_DBFS}. */
  minLevelDbfs?: number;
  /** Default {@linkcode FLOOR_RISE_DB_PER_SECOND}. */
  floorRiseDbPerSecond?: number;
  /** Default {@linkcode HANGOVER_MS}. */
  hangoverMs?: number;
  /** Default {@linkcode MIN_SPEECH_MS}. */
  minSpeechMs?: number;
}

/** Options of {@linkcode speechSegments}. */
export interface SpeechSegmentsOptions {
  /** Merge when the gap is below this. Default {@linkcode SEGMENT_MAX_GAP_SECONDS}. */
  maxGapSeconds?: number;
  /** Keep segments at least this long. Default {@linkcode SEGMENT_MIN_SECONDS}. */
  minDurationSeconds?: number;
}

/**
 * Finds the speech in canonical PCM (16-bit LE mono 16 kHz) with the energy
 * detector described in this module's documentation.
 *
 * @param pcm canonical PCM; a trailing odd byte is ignored
 * @param options detector parameters
 * @returns speech intervals in seconds, sorted and disjoint, within
 *   [0, duration], on frame boundaries except a final partial frame
 *
 * @example
 * ```ts
 * const silence = new Uint8Array(32000); // 1 s of canonical PCM
 * speechSegments(detectSpeech(silence)); // []
 * ```
 */
export function detectSpeech(
  pcm: Uint8Array,
  options: DetectSpeechOptions = {},
): SpeechInterval[] {
  const marginDb = options.marginDb ?? SPEECH_MARGIN_DB;
  const minLevel = options.minLevelDbfs ?? MIN_SPEECH_LEVEL_DBFS;
  const rise = (options.floorRiseDbPerSecond ?? FLOOR_RISE_DB_PER_SECOND) *
    VAD_FRAME_MS / 1000;
  const hangoverFrames = Math.floor(
    (options.hangoverMs ?? HANGOVER_MS) / VAD_FRAME_MS,
  );
  const minFrames = Math.ceil(
    (options.minSpeechMs ?? MIN_SPEECH_MS) / VAD_FRAME_MS,
  );

  const sampleCount = pcm.length >> 1;
  const levels = frameLevels(pcm, sampleCount);
  if (levels.length === 0) return [];

  const runs: { first: number; last: number }[] = [];
  let floor = quantile(levels, FLOOR_SEED_QUANTILE);
  for (let i = 0; i < levels.length; i++) {
    floor = Math.min(floor + rise, levels[i]);
    const voiced = levels[i] >= minLevel && levels[i] >= floor + marginDb;
    if (!voiced) continue;
    const previous = runs.at(-1);
    if (previous !== undefined && i - previous.last - 1 <= hangoverFrames) {
      previous.last = i;
    } else {
      runs.push({ first: i, last: i });
    }
  }
  return runs
    .filter((run) => run.last - run.first + 1 >= minFrames)
    .map((run) => ({
      start: run.first * VAD_FRAME_SAMPLES / SAMPLE_RATE,
      end: Math.min((run.last + 1) * VAD_FRAME_SAMPLES, sampleCount) /
        SAMPLE_RATE,
    }));
}

/**
 * Turns speech intervals into segments (reference §6.2): consecutive
 * intervals whose gap is below 120 s merge, then segments shorter than 1 s
 * go.
 *
 * @param intervals speech intervals in seconds, in any order
 * @param options the gap and length rules
 * @returns new segment objects, sorted by start
 *
 * @example
 * ```ts
 * speechSegments([{ start: 0, end: 2 }, { start: 100, end: 101 }]);
 * // [{ start: 0, end: 101 }]
 * ```
 */
export function speechSegments(
  intervals: readonly SpeechInterval[],
  options: SpeechSegmentsOptions = {},
): SpeechInterval[] {
  const maxGap = options.maxGapSeconds ?? SEGMENT_MAX_GAP_SECONDS;
  const minDuration = options.minDurationSeconds ?? SEGMENT_MIN_SECONDS;
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const merged: SpeechInterval[] = [];
  for (const { start, end } of sorted) {
    const last = merged.at(-1);
    if (last !== undefined && start - last.end < maxGap) {
      last.end = Math.max(last.end, end);
    } else {
      merged.push({ start, end });
    }
  }
  return merged.filter((segment) => segment.end - segment.start >= minDuration);
}

/** Each frame's RMS level in dBFS; the last frame may be partial. */
function frameLevels(pcm: Uint8Array, sampleCount: number): Float64Array {
  const view = new DataView(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const frameCount = Math.ceil(sampleCount / VAD_FRAME_SAMPLES);
  const levels = new Float64Array(frameCount);
  for (let f = 0; f < frameCount; f++) {
    const first = f * VAD_FRAME_SAMPLES;
    const end = Math.min(first + VAD_FRAME_SAMPLES, sampleCount);
    let sum = 0;
    for (let i = first; i < end; i++) {
      const sample = view.getInt16(i * 2, true);
      sum += sample * sample;
    }
    const rms = Math.sqrt(sum / (end - first)) / FULL_SCALE;
    levels[f] = rms === 0
      ? SILENCE_DBFS
      : Math.max(SILENCE_DBFS, 20 * Math.log10(rms));
  }
  return levels;
}

/** The `q` quantile of `values` (lower neighbour, no interpolation). */
function quantile(values: Float64Array, q: number): number {
  const sorted = values.slice().sort();
  return sorted[Math.floor(q * (sorted.length - 1))];
}
