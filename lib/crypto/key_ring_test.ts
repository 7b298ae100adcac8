import { assertEquals, assertRejects } from "@std/assert";
import {
  EncryptionUnavailableError,
  KeyRing,
  peekGcmPlaintext,
} from "./key_ring.ts";
import { deriveUserKey } from "./user_key.ts";

const SECRET = "key-ring-test-secret-0123456789abcdef";

Deno.test("KeyRing.keysFor() derives the same AES-GCM key as deriveUserKey()", async () => {
  const ring = new KeyRing(SECRET);
  const reference = await deriveUserKey(SECRET, "uid-1");
  const iv = new Uint8Array(12).fill(7);
  const plain = new TextEncoder().encode("hello chunk");
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    reference,
    plain,
  );
  const { gcm } = await ring.keysFor("uid-1");
  assertEquals(
    new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv }, gcm, sealed),
    ),
    plain,
  );
  const other = (await ring.keysFor("uid-2")).gcm;
  await assertRejects(() =>
    crypto.subtle.decrypt({ name: "AES-GCM", iv }, other, sealed)
  );
});

Deno.test("peekGcmPlaintext() reads the first plaintext bytes of a GCM frame without the tag", async () => {
  const ring = new KeyRing(SECRET);
  const { gcm, ctr } = await ring.keysFor("uid-1");
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = crypto.getRandomValues(new Uint8Array(100));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv }, gcm, plain),
  );
  // A prefix that spans two AES blocks checks the counter increments too.
  assertEquals(
    await peekGcmPlaintext(ctr, iv, sealed.subarray(0, 24)),
    plain.subarray(0, 24),
  );
});

Deno.test("KeyRing without a secret rejects every lookup with EncryptionUnavailableError", async () => {
  const ring = new KeyRing(undefined);
  assertEquals(ring.available, false);
  await assertRejects(() => ring.keysFor("u"), EncryptionUnavailableError);
});

Deno.test("KeyRing keeps at most its capacity of users and still derives evicted ones", async () => {
  const ring = new KeyRing(SECRET, { capacity: 2 });
  const first = await ring.keysFor("a");
  await ring.keysFor("b");
  await ring.keysFor("c");
  const again = await ring.keysFor("a");
  assertEquals(first === again, false, "a was evicted and derived anew");
  const iv = new Uint8Array(12);
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    first.gcm,
    new Uint8Array(3),
  );
  assertEquals(
    new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv }, again.gcm, sealed),
    ),
    new Uint8Array(3),
  );
});
