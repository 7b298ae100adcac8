import { assertEquals, assertLess, assertRejects } from "@std/assert";
import { durationOfObject, pcmLengthOfObject } from "./chunk_duration.ts";
import { ChunkDecodeError, decodeChunk } from "./chunk_codec.ts";
import { encryptFrame, encryptFrames } from "../crypto/encrypted_frames.ts";
import { encodeOpus } from "./opus_codec.ts";
import type { ChunkExt } from "../storage/keys.ts";

const KEY = await crypto.subtle.importKey(
  "raw",
  new Uint8Array(32).fill(5),
  "AES-GCM",
  false,
  ["encrypt", "decrypt"],
);

function countingKey(): { get: () => Promise<CryptoKey>; calls: () => number } {
  let calls = 0;
  return {
    get: () => {
      calls++;
      return Promise.resolve(KEY);
    },
    calls: () => calls,
  };
}

function pcm(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 37) & 0xff;
  return out;
}

/** Every format, built for chunks of the given byte lengths. */
async function objects(lengths: number[]): Promise<[ChunkExt, Uint8Array][]> {
  const chunks = lengths.map(pcm);
  const joined = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const c of chunks) {
    joined.set(c, at);
    at += c.length;
  }
  return [
    ["bin", joined],
    ["enc", await encryptFrames(KEY, chunks)],
    ["opus", encodeOpus(joined)],
    ["opus.enc", await encryptFrame(KEY, encodeOpus(joined))],
    ["batch.bin", joined],
    ["batch.enc", await encryptFrames(KEY, chunks)],
  ];
}

Deno.test("pcmLengthOfObject() equals the length decodeChunk() returns, for all six formats", async () => {
  for (
    const lengths of [[32000], [6400, 3200, 640], [1001], [999, 1001], [0], []]
  ) {
    for (const [ext, bytes] of await objects(lengths)) {
      const decoded = await decodeChunk(ext, bytes, () => Promise.resolve(KEY));
      assertEquals(
        await pcmLengthOfObject(ext, bytes, () => Promise.resolve(KEY)),
        decoded.length,
        `${ext} of chunks ${lengths}`,
      );
    }
  }
});

Deno.test("pcmLengthOfObject() of .enc is size - 32 per frame, of .batch.enc the frame payloads", async () => {
  const sealed = await encryptFrames(KEY, [pcm(100), pcm(200), pcm(300)]);
  assertEquals(sealed.length, 600 + 3 * 32);
  assertEquals(await pcmLengthOfObject("enc", sealed), 600);
  assertEquals(await pcmLengthOfObject("batch.enc", sealed), 600);
  // Odd frames each lose a byte in a batch; a single .enc chunk loses one.
  const odd = await encryptFrames(KEY, [pcm(101), pcm(201)]);
  assertEquals(await pcmLengthOfObject("batch.enc", odd), 300);
  assertEquals(await pcmLengthOfObject("enc", odd), 302);
});

Deno.test("durationOfObject() gives exact seconds where size / 16000 was wrong", async () => {
  const second = pcm(32000);
  assertEquals(await durationOfObject("bin", second), 1);
  const opus = encodeOpus(second);
  assertEquals(await durationOfObject("opus", opus), 1);
  // What the original computed for the same object.
  assertLess(opus.length / 16000, 0.5);
  assertEquals(
    await durationOfObject("enc", await encryptFrame(KEY, second)),
    1,
  );
});

Deno.test("pcmLengthOfObject() asks for the key only for .opus.enc", async () => {
  for (const [ext, bytes] of await objects([640, 640])) {
    const key = countingKey();
    await pcmLengthOfObject(ext, bytes, key.get);
    assertEquals(key.calls(), ext === "opus.enc" ? 1 : 0, ext);
  }
  await assertRejects(
    () => pcmLengthOfObject("opus.enc", new Uint8Array(64)),
    TypeError,
    "no key was given",
  );
});

Deno.test("pcmLengthOfObject() reports malformed objects as ChunkDecodeError", async () => {
  const cases: [ChunkExt, Uint8Array, "decrypt" | "decode"][] = [
    ["opus", new Uint8Array(5), "decode"],
    ["opus", encodeOpus(pcm(1280)).subarray(0, 12), "decode"],
    ["enc", new Uint8Array([0, 0, 0, 40, 1]), "decrypt"],
    ["batch.enc", new Uint8Array([0, 0]), "decrypt"],
    [
      "opus.enc",
      await encryptFrame(
        await crypto.subtle.importKey(
          "raw",
          new Uint8Array(32),
          "AES-GCM",
          false,
          ["encrypt"],
        ),
        pcm(10),
      ),
      "decrypt",
    ],
    ["opus.enc", await encryptFrame(KEY, new Uint8Array(3)), "decode"],
  ];
  for (const [ext, bytes, reason] of cases) {
    const error = await assertRejects(
      () => pcmLengthOfObject(ext, bytes, () => Promise.resolve(KEY)),
      ChunkDecodeError,
    );
    assertEquals([error.ext, error.reason], [ext, reason]);
  }
});
