import {
  assertEquals,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
} from "@std/assert";
import {
  ChunkDecodeError,
  decodeChunk,
  encodeBatch,
  encodeChunk,
} from "./chunk_codec.ts";
import {
  countFrames,
  decryptFrames,
  encryptFrame,
  encryptFrames,
} from "../crypto/encrypted_frames.ts";
import { decodeOpus, encodeOpus } from "./opus_codec.ts";
import { readContainer, writeContainer } from "./opus_container.ts";
import type { ChunkExt } from "../storage/keys.ts";

async function aesKey(byte: number): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    new Uint8Array(32).fill(byte),
    "AES-GCM",
    false,
    ["encrypt", "decrypt"],
  );
}

const KEY = await aesKey(1);
const OTHER_KEY = await aesKey(2);

/** A key provider that counts its calls. */
function provider(
  key: CryptoKey,
): { get: () => Promise<CryptoKey>; calls: () => number } {
  let calls = 0;
  return {
    get: () => {
      calls++;
      return Promise.resolve(key);
    },
    calls: () => calls,
  };
}

function pcmOf(samples: number, seed: number): Uint8Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    out[i] = Math.round(6000 * Math.sin((i + seed) / 7));
  }
  return new Uint8Array(out.buffer);
}

Deno.test("decodeChunk() returns .bin and .batch.bin as they are, without asking for a key", async () => {
  const pcm = pcmOf(100, 0);
  const keys = provider(KEY);
  assertEquals(await decodeChunk("bin", pcm, keys.get), pcm);
  assertEquals(await decodeChunk("batch.bin", pcm, keys.get), pcm);
  assertEquals(keys.calls(), 0);
});

Deno.test("decodeChunk() drops a trailing odd byte", async () => {
  const odd = new Uint8Array([1, 2, 3, 4, 5]);
  assertEquals(
    await decodeChunk("bin", odd, provider(KEY).get),
    odd.subarray(0, 4),
  );
  const enc = await encryptFrame(KEY, odd);
  assertEquals(
    await decodeChunk("enc", enc, provider(KEY).get),
    odd.subarray(0, 4),
  );
  // opus: the container remembers the odd length; the output is still even.
  const opus = await decodeChunk("opus", encodeOpus(odd), provider(KEY).get);
  assertEquals(opus.length, 4);
});

Deno.test("decodeChunk() decrypts .enc (one or more frames) with the user's key", async () => {
  const pcm = pcmOf(300, 1);
  const keys = provider(KEY);
  const one = await encryptFrame(KEY, pcm);
  assertEquals(await decodeChunk("enc", one, keys.get), pcm);
  const two = await encryptFrames(KEY, [
    pcm.subarray(0, 200),
    pcm.subarray(200),
  ]);
  assertEquals(await decodeChunk("enc", two, keys.get), pcm);
  assertEquals(keys.calls(), 2);
});

Deno.test("decodeChunk() decodes .opus and .opus.enc to the original length", async () => {
  const pcm = pcmOf(1600, 2); // 100 ms
  const container = encodeOpus(pcm);
  const fromOpus = await decodeChunk("opus", container, provider(KEY).get);
  assertEquals(fromOpus.length, pcm.length);
  assertEquals(fromOpus, decodeOpus(container));
  const sealed = await encryptFrame(KEY, container);
  const fromOpusEnc = await decodeChunk("opus.enc", sealed, provider(KEY).get);
  assertEquals(fromOpusEnc, fromOpus);
});

Deno.test("decodeChunk() decrypts every frame of .batch.enc and trims odd frames one by one", async () => {
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array([4, 5, 6, 7]);
  const c = new Uint8Array([8, 9, 10, 11, 12]);
  const blob = await encryptFrames(KEY, [a, b, c]);
  assertEquals(
    await decodeChunk("batch.enc", blob, provider(KEY).get),
    new Uint8Array([1, 2, 4, 5, 6, 7, 8, 9, 10, 11]),
  );
});

Deno.test("decodeChunk() reports a wrong key as a ChunkDecodeError of step decrypt", async () => {
  const pcm = pcmOf(50, 3);
  const cases: [ChunkExt, Uint8Array][] = [
    ["enc", await encryptFrame(KEY, pcm)],
    ["opus.enc", await encryptFrame(KEY, encodeOpus(pcm))],
    ["batch.enc", await encryptFrames(KEY, [pcm, pcm])],
  ];
  for (const [ext, bytes] of cases) {
    const error = await assertRejects(
      () => decodeChunk(ext, bytes, provider(OTHER_KEY).get),
      ChunkDecodeError,
    );
    assertEquals(error.ext, ext);
    assertEquals(error.reason, "decrypt");
    assertStringIncludes(error.message, `Cannot decrypt .${ext} chunk: `);
  }
});

Deno.test("decodeChunk() reports a broken container or packet as a ChunkDecodeError of step decode", async () => {
  const junkPacket = writeContainer([new Uint8Array([0xff, 0xff, 0xff])], 0);
  const truncated = encodeOpus(pcmOf(640, 4)).subarray(0, 20);
  const cases: [ChunkExt, Uint8Array][] = [
    ["opus", junkPacket],
    ["opus", truncated],
    ["opus", new Uint8Array(3)],
    ["opus.enc", await encryptFrame(KEY, junkPacket)],
    ["opus.enc", await encryptFrame(KEY, truncated)],
  ];
  for (const [ext, bytes] of cases) {
    const error = await assertRejects(
      () => decodeChunk(ext, bytes, provider(KEY).get),
      ChunkDecodeError,
    );
    assertEquals(error.ext, ext);
    assertEquals(error.reason, "decode");
  }
  // A malformed frame file is a decrypt failure, not a decode failure.
  const error = await assertRejects(
    () => decodeChunk("opus.enc", new Uint8Array([0, 0]), provider(KEY).get),
    ChunkDecodeError,
  );
  assertEquals(error.reason, "decrypt");
});

Deno.test("decodeChunk() lets key-provider failures through unwrapped", async () => {
  const missing = new Error("ENCRYPTION_SECRET is not set");
  const error = await assertRejects(() =>
    decodeChunk("enc", new Uint8Array(40), () => Promise.reject(missing))
  );
  assertStrictEquals(error, missing);
});

Deno.test("encodeChunk() stores standard users as .opus and enhanced users as .opus.enc", async () => {
  const pcm = pcmOf(3200, 5); // 200 ms
  const standard = await encodeChunk(pcm, { protection: "standard" });
  assertEquals(standard.ext, "opus");
  assertEquals(readContainer(standard.bytes).packets.length, 10);
  assertEquals(readContainer(standard.bytes).originalPcmLen, 6400);

  const enhanced = await encodeChunk(pcm, { protection: "enhanced", key: KEY });
  assertEquals(enhanced.ext, "opus.enc");
  assertEquals(countFrames(enhanced.bytes), 1);
  const container = await decryptFrames(KEY, enhanced.bytes);
  assertEquals(readContainer(container).originalPcmLen, 6400);
  const decoded = await decodeChunk(
    enhanced.ext,
    enhanced.bytes,
    provider(KEY).get,
  );
  assertEquals(decoded.length, 6400);
});

Deno.test("encodeChunk() and encodeBatch() refuse an enhanced user without a key", async () => {
  await assertRejects(
    () => encodeChunk(new Uint8Array(2), { protection: "enhanced" }),
    TypeError,
    "no encryption key",
  );
  await assertRejects(
    () => encodeBatch([new Uint8Array(2)], { protection: "enhanced" }),
    TypeError,
    "no encryption key",
  );
});

Deno.test("encodeBatch() concatenates PCM for standard users and frames each chunk for enhanced users", async () => {
  const chunks = [pcmOf(10, 1), new Uint8Array([7, 7, 7]), pcmOf(5, 2)];
  const expected = new Uint8Array([...chunks[0], 7, 7, ...chunks[2]]);

  const plain = await encodeBatch(chunks, { protection: "standard" });
  assertEquals(plain.ext, "batch.bin");
  assertEquals(plain.bytes, expected);

  const sealed = await encodeBatch(chunks, {
    protection: "enhanced",
    key: KEY,
  });
  assertEquals(sealed.ext, "batch.enc");
  assertEquals(countFrames(sealed.bytes), 3);
  // Decrypting all frames gives the .batch.bin bytes (reference §1.3).
  assertEquals(await decryptFrames(KEY, sealed.bytes), plain.bytes);
  assertEquals(
    await decodeChunk("batch.enc", sealed.bytes, provider(KEY).get),
    expected,
  );
});

Deno.test("decodeChunk() rethrows a cancellation as it is, never as a broken chunk", async () => {
  const controller = new AbortController();
  const reason = new Error("Service is shutting down");
  const engine = {
    encode: () => Promise.reject(new Error("unused")),
    decode: () => {
      controller.abort(reason);
      return Promise.reject(reason);
    },
  };
  const error = await assertRejects(() =>
    decodeChunk(
      "opus",
      new Uint8Array(8),
      () => Promise.reject(new Error("no key needed")),
      engine,
      controller.signal,
    )
  );
  assertEquals(error, reason);
});
