import {
  assertEquals,
  assertMatch,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { BlobSigner } from "./blob_signer.ts";

const NOW = 1_800_000_000;
const EXPIRES = NOW + 3600;

Deno.test("BlobSigner.verify() accepts its own signature until expiry", async () => {
  const signer = new BlobSigner("secret-one");
  const sig = await signer.sign("bkt", "merged/u/c/f.wav", EXPIRES);
  assertMatch(sig, /^[0-9a-f]{64}$/);
  assertEquals(
    await signer.verify("bkt", "merged/u/c/f.wav", String(EXPIRES), sig, NOW),
    "valid",
  );
  assertEquals(
    await signer.verify("bkt", "merged/u/c/f.wav", EXPIRES, sig, EXPIRES),
    "valid",
  );
  assertEquals(
    await signer.verify("bkt", "merged/u/c/f.wav", EXPIRES, sig, EXPIRES + 1),
    "expired",
  );
});

Deno.test("BlobSigner.verify() rejects any change to bucket, key, expiry or signature", async () => {
  const signer = new BlobSigner("secret-one");
  const sig = await signer.sign("bkt", "merged/u/c/f.wav", EXPIRES);
  const flipped = (sig[0] === "0" ? "1" : "0") + sig.slice(1);
  const cases: [string, string, string, string][] = [
    ["other", "merged/u/c/f.wav", String(EXPIRES), sig],
    ["bkt", "merged/u/c/g.wav", String(EXPIRES), sig],
    ["bkt", "merged/u/c/f.wav", String(EXPIRES + 1), sig],
    ["bkt", "merged/u/c/f.wav", String(EXPIRES), flipped],
    ["bkt", "merged/u/c/f.wav", String(EXPIRES), sig.toUpperCase()],
    ["bkt", "merged/u/c/f.wav", String(EXPIRES), sig.slice(2)],
    ["bkt", "merged/u/c/f.wav", `${EXPIRES}.0`, sig],
    ["bkt", "merged/u/c/f.wav", "", sig],
  ];
  for (const [bucket, key, expires, s] of cases) {
    assertEquals(
      await signer.verify(bucket, key, expires, s, NOW),
      "invalid",
      `${bucket} ${key} ${expires} ${s}`,
    );
  }
  // A bucket/key split cannot be shifted without changing the signature.
  const joined = await signer.sign("a", "b/c", EXPIRES);
  assertEquals(
    await signer.verify("a/b", "c", EXPIRES, joined, NOW),
    "invalid",
  );
});

Deno.test("BlobSigner.verify() calls a forged expired URL invalid, not expired", async () => {
  const sig = await new BlobSigner("attacker").sign("bkt", "k", NOW - 10);
  assertEquals(
    await new BlobSigner("secret-one").verify("bkt", "k", NOW - 10, sig, NOW),
    "invalid",
  );
});

Deno.test("BlobSigner.signUrl() builds the blob route URL with encoded segments", async () => {
  const signer = new BlobSigner("secret-one");
  const url = new URL(
    await signer.signUrl("http://127.0.0.1:8080/", {
      bucket: "bkt",
      key: "merged/u 1/c#1/f?.wav",
      expiresAtSeconds: EXPIRES,
    }),
  );
  assertEquals(url.pathname, "/v1/blobs/bkt/merged/u%201/c%231/f%3F.wav");
  assertEquals(url.searchParams.get("expires"), String(EXPIRES));
  const key = url.pathname.split("/").slice(4).map(decodeURIComponent).join(
    "/",
  );
  assertEquals(key, "merged/u 1/c#1/f?.wav");
  assertEquals(
    await signer.verify(
      "bkt",
      key,
      url.searchParams.get("expires")!,
      url.searchParams.get("sig")!,
      NOW,
    ),
    "valid",
  );
});

Deno.test("BlobSigner refuses an empty secret and a fractional expiry", async () => {
  assertThrows(() => new BlobSigner(""), TypeError);
  await assertRejects(() => new BlobSigner("s").sign("b", "k", 1.5), TypeError);
});
