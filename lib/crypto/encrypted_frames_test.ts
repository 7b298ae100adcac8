import {
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import {
  countFrames,
  decryptFrameList,
  decryptFrames,
  EncryptedFrameError,
  encryptFrame,
  encryptFrames,
  FRAME_OVERHEAD_BYTES,
  framePlaintextLengths,
} from "./encrypted_frames.ts";
import { deriveUserKey } from "./user_key.ts";

const SECRET = "test-secret-0123456789abcdef-0123456789";
const text = new TextEncoder();

function hex(s: string): Uint8Array {
  return new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
}

/**
 * Made by the Python `cryptography` package (48.0.0) the way the original
 * backend does it: HKDF(SHA256, 32, salt=b"user-42",
 * info=b"user-data-encryption").derive(SECRET), then
 * AESGCM(key).encrypt(bytes(range(12)), b"omi audio frame", None), framed
 * as struct.pack(">I", 12 + len(ct)) + nonce + ct.
 */
const PYTHON_FRAME = hex(
  "0000002b000102030405060708090a0b93319d5e63ede58f1d670a50086d723856e34a63bd98fdf0ff62a79521c50a",
);
const PYTHON_NONCE = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

/** A raw AES key for the tests that do not go through HKDF. */
async function rawKey(byte: number): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    new Uint8Array(32).fill(byte),
    "AES-GCM",
    false,
    ["encrypt", "decrypt"],
  );
}

Deno.test("decryptFrames() reads a frame written by the original Python backend", async () => {
  const key = await deriveUserKey(SECRET, "user-42");
  assertEquals(
    await decryptFrames(key, PYTHON_FRAME),
    text.encode("omi audio frame"),
  );
});

Deno.test("encryptFrame() with the same key and nonce writes the Python frame byte for byte", async () => {
  const key = await deriveUserKey(SECRET, "user-42");
  const frame = await encryptFrame(
    key,
    text.encode("omi audio frame"),
    PYTHON_NONCE,
  );
  assertEquals(frame, PYTHON_FRAME);
});

Deno.test("decryptFrames() reads a frame laid out by hand with WebCrypto", async () => {
  const key = await rawKey(1);
  const nonce = new Uint8Array(12).fill(9);
  const plain = text.encode("chunk pcm bytes");
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, plain),
  );
  const length = 12 + sealed.length;
  const frame = new Uint8Array([
    length >>> 24,
    (length >>> 16) & 0xff,
    (length >>> 8) & 0xff,
    length & 0xff,
    ...nonce,
    ...sealed,
  ]);
  assertEquals(await decryptFrames(key, frame), plain);
});

Deno.test("encryptFrame() output decrypts with a hand-written WebCrypto call", async () => {
  const key = await rawKey(2);
  const plain = text.encode("some audio");
  const frame = await encryptFrame(key, plain);
  const length =
    ((frame[0] << 24) | (frame[1] << 16) | (frame[2] << 8) | frame[3]) >>> 0;
  assertEquals(length, frame.length - 4);
  assertEquals(length, 12 + plain.length + 16);
  const opened = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: frame.slice(4, 16) },
    key,
    frame.slice(16),
  );
  assertEquals(new Uint8Array(opened), plain);
});

Deno.test("encryptFrame() picks a fresh random nonce each time", async () => {
  const key = await rawKey(3);
  const a = await encryptFrame(key, text.encode("same"));
  const b = await encryptFrame(key, text.encode("same"));
  assertNotEquals(a.slice(4, 16), b.slice(4, 16));
});

Deno.test("encryptFrame() rejects a nonce that is not 12 bytes", async () => {
  const key = await rawKey(3);
  await assertRejects(
    () => encryptFrame(key, new Uint8Array(1), new Uint8Array(16)),
    RangeError,
    "nonce is 16 bytes",
  );
});

Deno.test("encryptFrames() writes one frame per plaintext; decryptFrames() concatenates them", async () => {
  const key = await rawKey(4);
  const parts = [
    text.encode("first"),
    new Uint8Array(0),
    text.encode("third!"),
  ];
  const file = await encryptFrames(key, parts);
  assertEquals(countFrames(file), 3);
  assertEquals(framePlaintextLengths(file), [5, 0, 6]);
  assertEquals(
    (await decryptFrameList(key, file)).map((p) => new TextDecoder().decode(p)),
    ["first", "", "third!"],
  );
  assertEquals(file.length, 5 + 0 + 6 + 3 * FRAME_OVERHEAD_BYTES);
  assertEquals(await decryptFrames(key, file), text.encode("firstthird!"));
  // A view into a larger buffer works the same.
  const padded = new Uint8Array(file.length + 7);
  padded.set(file, 5);
  const view = padded.subarray(5, 5 + file.length);
  assertEquals(await decryptFrames(key, view), text.encode("firstthird!"));
  assertEquals(countFrames(view), 3);
});

Deno.test("decryptFrames() of an empty file is empty; countFrames() is 0", async () => {
  const key = await rawKey(5);
  assertEquals(await decryptFrames(key, new Uint8Array(0)), new Uint8Array(0));
  assertEquals(countFrames(new Uint8Array(0)), 0);
});

Deno.test("decryptFrames() fails the whole file on a short header, a short frame or a bad tag", async () => {
  const key = await rawKey(6);
  const file = await encryptFrames(key, [
    text.encode("aaaa"),
    text.encode("bbbb"),
    text.encode("cccc"),
  ]);
  const shortHeader = new Uint8Array([...file, 0, 0]);
  const shortFrame = file.subarray(0, file.length - 1);
  const badTag = file.slice();
  badTag[2 * (4 + FRAME_OVERHEAD_BYTES) - 1] ^= 1; // last tag byte of frame 1
  const tinyLength = new Uint8Array([0, 0, 0, 27, ...new Uint8Array(27)]);
  const cases: [Uint8Array, string][] = [
    [shortHeader, "frame 3 at byte 108: short header (2 of 4 bytes)"],
    [shortFrame, "frame 2 at byte 72: short frame (31 of 32 bytes)"],
    [badTag, "Cannot decrypt frame 1 of 3: authentication failed"],
    [tinyLength, "length 27 is less than nonce and tag (28)"],
  ];
  for (const [bytes, why] of cases) {
    await assertRejects(
      () => decryptFrames(key, bytes),
      EncryptedFrameError,
      why,
    );
  }
  // countFrames() needs no key, so only structural damage shows there.
  assertThrows(
    () => countFrames(shortHeader),
    EncryptedFrameError,
    "short header",
  );
  assertThrows(
    () => countFrames(shortFrame),
    EncryptedFrameError,
    "short frame",
  );
  assertThrows(() => countFrames(tinyLength), EncryptedFrameError, "less than");
  assertThrows(() => framePlaintextLengths(shortFrame), EncryptedFrameError);
  assertEquals(countFrames(badTag), 3);
  await assertRejects(
    () => decryptFrameList(key, badTag),
    EncryptedFrameError,
    "frame 1 of 3",
  );
});

Deno.test("decryptFrames() with another user's key fails", async () => {
  const alice = await deriveUserKey(SECRET, "alice");
  const bob = await deriveUserKey(SECRET, "bob");
  const frame = await encryptFrame(alice, text.encode("alice's audio"));
  await assertRejects(
    () => decryptFrames(bob, frame),
    EncryptedFrameError,
    "authentication failed",
  );
  await assertRejects(
    () => decryptFrames(bob, PYTHON_FRAME),
    EncryptedFrameError,
  );
});
