import { assertAlmostEquals, assertEquals, assertLess } from "@std/assert";
import {
  detectSpeech,
  type SpeechInterval,
  speechSegments,
  VAD_FRAME_MS,
} from "./vad.ts";

const RATE = 16000;
/** Detected edges may be off by up to one frame. */
const FRAME_TOLERANCE = VAD_FRAME_MS / 1000;

/** One piece of a synthetic recording. */
type Part =
  | { kind: "silence"; seconds: number }
  | { kind: "tone"; seconds: number; amplitude?: number };

/**
 * Canonical PCM of `parts` in order, over deterministic white noise of RMS
 * `noiseRms` (xorshift32; 0 gives digital silence between tones).
 */
function recording(parts: Part[], noiseRms = 0): Uint8Array {
  const total = parts.reduce((sum, p) => sum + Math.round(p.seconds * RATE), 0);
  const samples = new Int16Array(total);
  let x = 2463534242;
  // Uniform noise in [-a, a] has RMS a / sqrt(3).
  const noiseAmplitude = noiseRms * Math.sqrt(3);
  let offset = 0;
  for (const part of parts) {
    const count = Math.round(part.seconds * RATE);
    for (let i = 0; i < count; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      let value = (x / 0xffffffff * 2 - 1) * noiseAmplitude;
      if (part.kind === "tone") {
        // A voice-like tone: 180 Hz with two harmonics.
        const t = i / RATE;
        value += (part.amplitude ?? 8000) *
          (Math.sin(2 * Math.PI * 180 * t) +
            0.5 * Math.sin(2 * Math.PI * 360 * t) +
            0.25 * Math.sin(2 * Math.PI * 540 * t)) /
          1.75;
      }
      samples[offset + i] = Math.max(
        -32768,
        Math.min(32767, Math.round(value)),
      );
    }
    offset += count;
  }
  return new Uint8Array(samples.buffer);
}

function assertIntervals(
  actual: SpeechInterval[],
  expected: SpeechInterval[],
): void {
  assertEquals(actual.length, expected.length, JSON.stringify(actual));
  for (const [i, interval] of expected.entries()) {
    assertAlmostEquals(actual[i].start, interval.start, FRAME_TOLERANCE);
    assertAlmostEquals(actual[i].end, interval.end, FRAME_TOLERANCE);
  }
}

Deno.test("detectSpeech() finds nothing in silence or in empty input", () => {
  assertEquals(detectSpeech(new Uint8Array(RATE * 2 * 3)), []);
  assertEquals(detectSpeech(new Uint8Array(0)), []);
  assertEquals(detectSpeech(new Uint8Array(1)), []);
});

Deno.test("detectSpeech() finds nothing in steady background noise", () => {
  // About -40 dBFS: above the absolute minimum, but not above the floor.
  const noise = recording([{ kind: "silence", seconds: 4 }], 330);
  assertEquals(detectSpeech(noise), []);
});

Deno.test("detectSpeech() finds tone bursts separated by silence", () => {
  const pcm = recording([
    { kind: "silence", seconds: 1.01 },
    { kind: "tone", seconds: 2 },
    { kind: "silence", seconds: 1 },
    { kind: "tone", seconds: 0.5, amplitude: 2000 },
    { kind: "silence", seconds: 0.49 },
  ]);
  assertIntervals(detectSpeech(pcm), [
    { start: 1.01, end: 3.01 },
    { start: 4.01, end: 4.51 },
  ]);
});

Deno.test("detectSpeech() finds tone bursts over background noise", () => {
  const pcm = recording([
    { kind: "silence", seconds: 1 },
    { kind: "tone", seconds: 1 },
    { kind: "silence", seconds: 1.5 },
    { kind: "tone", seconds: 1 },
    { kind: "silence", seconds: 0.5 },
  ], 300);
  assertIntervals(detectSpeech(pcm), [
    { start: 1, end: 2 },
    { start: 3.5, end: 4.5 },
  ]);
});

Deno.test("detectSpeech() follows a background that gets louder", () => {
  // -61 dBFS for 2 s, then -35 dBFS for 10 s: the step looks like speech
  // until the floor has risen to within the margin, about 5 s at 3 dB/s.
  const quiet = recording([{ kind: "silence", seconds: 2 }], 30);
  const loud = recording([{ kind: "silence", seconds: 10 }], 600);
  const pcm = new Uint8Array(quiet.length + loud.length);
  pcm.set(quiet);
  pcm.set(loud, quiet.length);
  const intervals = detectSpeech(pcm);
  assertEquals(intervals.length, 1, JSON.stringify(intervals));
  assertAlmostEquals(intervals[0].start, 2, FRAME_TOLERANCE);
  assertLess(intervals[0].end, 8);
});

Deno.test("detectSpeech() bridges pauses up to the hangover and no longer", () => {
  const parts = (pause: number): Part[] => [
    { kind: "silence", seconds: 0.5 },
    { kind: "tone", seconds: 0.6 },
    { kind: "silence", seconds: pause },
    { kind: "tone", seconds: 0.6 },
    { kind: "silence", seconds: 0.5 },
  ];
  assertIntervals(detectSpeech(recording(parts(0.21))), [
    { start: 0.5, end: 1.91 },
  ]);
  assertIntervals(detectSpeech(recording(parts(0.51))), [
    { start: 0.5, end: 1.1 },
    { start: 1.61, end: 2.21 },
  ]);
  // A longer hangover bridges the longer pause too.
  assertIntervals(detectSpeech(recording(parts(0.51)), { hangoverMs: 600 }), [
    { start: 0.5, end: 2.21 },
  ]);
});

Deno.test("detectSpeech() drops clicks shorter than the minimum speech", () => {
  const pcm = recording([
    { kind: "silence", seconds: 1 },
    { kind: "tone", seconds: 0.03 },
    { kind: "silence", seconds: 1 },
  ]);
  assertEquals(detectSpeech(pcm), []);
  assertEquals(detectSpeech(pcm, { minSpeechMs: 0 }).length, 1);
});

Deno.test("detectSpeech() ends speech that runs to the end at the last sample", () => {
  const pcm = recording([
    { kind: "silence", seconds: 1 },
    { kind: "tone", seconds: 1.01 },
  ]);
  const intervals = detectSpeech(pcm);
  assertEquals(intervals.length, 1);
  assertEquals(intervals[0].end, 2.01);
});

Deno.test("speechSegments() merges gaps under 120 s and keeps a gap of 120 s apart", () => {
  assertEquals(
    speechSegments([{ start: 0, end: 1 }, { start: 120.9, end: 121.5 }]),
    [{ start: 0, end: 121.5 }],
  );
  assertEquals(
    speechSegments([{ start: 0, end: 1 }, { start: 121, end: 122 }]),
    [{ start: 0, end: 1 }, { start: 121, end: 122 }],
  );
});

Deno.test("speechSegments() drops merged segments under 1 s and keeps 1 s", () => {
  assertEquals(speechSegments([{ start: 3, end: 3.99 }]), []);
  assertEquals(speechSegments([{ start: 5, end: 6 }]), [{ start: 5, end: 6 }]);
  // Two short intervals that merge make a segment long enough to keep.
  assertEquals(
    speechSegments([{ start: 0, end: 0.5 }, { start: 10, end: 10.6 }]),
    [{ start: 0, end: 10.6 }],
  );
});

Deno.test("speechSegments() sorts its input, spans overlaps and leaves the input alone", () => {
  const input = [
    { start: 300, end: 302 },
    { start: 0, end: 5 },
    { start: 1, end: 2 },
  ];
  const copy = structuredClone(input);
  assertEquals(speechSegments(input), [
    { start: 0, end: 5 },
    { start: 300, end: 302 },
  ]);
  assertEquals(input, copy);
});

Deno.test("speechSegments() takes its gap and length rules from options", () => {
  const intervals = [{ start: 0, end: 1 }, { start: 11, end: 11.5 }];
  assertEquals(
    speechSegments(intervals, { maxGapSeconds: 10, minDurationSeconds: 0.5 }),
    [{ start: 0, end: 1 }, { start: 11, end: 11.5 }],
  );
  assertEquals(speechSegments(intervals, { minDurationSeconds: 12 }), []);
});
