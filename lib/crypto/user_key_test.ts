import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { deriveUserKey, MIN_SECRET_BYTES } from "./user_key.ts";

const SECRET = "test-secret-0123456789abcdef-0123456789";
const text = new TextEncoder();

/** RFC 5869 HKDF-SHA256 for one 32-byte block, written with plain HMAC. */
async function handDerivedKey(secret: string, uid: string): Promise<CryptoKey> {
  const hmac = async (
    key: Uint8Array<ArrayBuffer>,
    data: Uint8Array<ArrayBuffer>,
  ) => {
    const k = await crypto.subtle.importKey(
      "raw",
      key,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
  };
  const prk = await hmac(text.encode(uid), text.encode(secret));
  const info = text.encode("user-data-encryption");
  const okm = await hmac(prk, new Uint8Array([...info, 1]));
  return await crypto.subtle.importKey("raw", okm, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

const NONCE = new Uint8Array(12).fill(7);

async function encryptWith(
  key: CryptoKey,
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: NONCE }, key, data),
  );
}

async function decryptWith(
  key: CryptoKey,
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(
    await crypto.subtle.decrypt({ name: "AES-GCM", iv: NONCE }, key, data),
  );
}

Deno.test("deriveUserKey() gives the RFC 5869 HKDF key of (secret, salt=uid, info)", async () => {
  const ours = await deriveUserKey(SECRET, "user-42");
  const theirs = await handDerivedKey(SECRET, "user-42");
  const plain = text.encode("hello audio");
  // Same key: identical ciphertext for the same nonce, both ways readable.
  assertEquals(
    await encryptWith(ours, plain),
    await encryptWith(theirs, plain),
  );
  assertEquals(
    await decryptWith(ours, await encryptWith(theirs, plain)),
    plain,
  );
});

Deno.test("deriveUserKey() salts with the uid: another user's key cannot decrypt", async () => {
  const alice = await deriveUserKey(SECRET, "alice");
  const bob = await deriveUserKey(SECRET, "bob");
  const sealed = await encryptWith(alice, text.encode("private"));
  await assertRejects(() => decryptWith(bob, sealed));
  const otherSecret = await deriveUserKey(`${SECRET}!`, "alice");
  await assertRejects(() => decryptWith(otherSecret, sealed));
});

Deno.test("deriveUserKey() returns a non-extractable AES-GCM-256 key for encrypt and decrypt", async () => {
  const key = await deriveUserKey(SECRET, "u");
  assertEquals(key.extractable, false);
  assertEquals((key.algorithm as AesKeyAlgorithm).name, "AES-GCM");
  assertEquals((key.algorithm as AesKeyAlgorithm).length, 256);
  assertEquals([...key.usages].sort(), ["decrypt", "encrypt"]);
});

Deno.test("deriveUserKey() counts the secret in UTF-8 bytes and needs at least 32", async () => {
  assertEquals(MIN_SECRET_BYTES, 32);
  await deriveUserKey("a".repeat(32), "u");
  await deriveUserKey("é".repeat(16), "u"); // 16 characters, 32 bytes
  const short = await assertRejects(
    () => deriveUserKey("a".repeat(31), "u"),
    RangeError,
  );
  assertStringIncludes(short.message, "31 bytes");
  assertStringIncludes(short.message, "at least 32");
  await assertRejects(() => deriveUserKey("é".repeat(15), "u"), RangeError);
  await assertRejects(() => deriveUserKey("", "u"), RangeError);
});
