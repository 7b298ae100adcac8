import { assertEquals, assertRejects } from "@std/assert";
import { ManualClock, stubServer } from "./_test_helpers.ts";
import { FCM_SCOPE, serviceAccountTokenSource } from "./google_access_token.ts";

async function rsaKey() {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const der = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", pair.privateKey),
  );
  const base64 = btoa(String.fromCharCode(...der)).replace(/.{64}/g, "$&\n");
  return {
    publicKey: pair.publicKey,
    pem: `-----BEGIN PRIVATE KEY-----\n${base64}\n-----END PRIVATE KEY-----\n`,
  };
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

Deno.test("serviceAccountTokenSource() exchanges a signed JWT and caches the token", async () => {
  const { publicKey, pem } = await rsaKey();
  let issued = 0;
  await using stub = stubServer(() =>
    Response.json({ access_token: `tok-${++issued}`, expires_in: 3600 })
  );
  const clock = new ManualClock(Date.parse("2026-05-01T00:00:00Z"));
  const accessToken = serviceAccountTokenSource({
    client_email: "svc@p.iam.gserviceaccount.com",
    private_key: pem,
    token_uri: `${stub.url}/token`,
  }, { clock });

  const [a, b] = await Promise.all([accessToken(), accessToken()]);
  assertEquals([a, b], ["tok-1", "tok-1"]);
  assertEquals(stub.requests.length, 1);

  const form = new URLSearchParams(stub.requests[0].body);
  assertEquals(
    form.get("grant_type"),
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
  );
  const [header, payload, signature] = form.get("assertion")!.split(".");
  const valid = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    publicKey,
    fromBase64Url(signature),
    new TextEncoder().encode(`${header}.${payload}`),
  );
  assertEquals(valid, true);
  const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(payload)));
  assertEquals(claims.iss, "svc@p.iam.gserviceaccount.com");
  assertEquals(claims.scope, FCM_SCOPE);
  assertEquals(claims.aud, `${stub.url}/token`);
  assertEquals(claims.exp - claims.iat, 3600);

  // Renewed shortly before expiry, not after it.
  clock.advance(3600_000 - 30_000);
  assertEquals(await accessToken(), "tok-2");
});

Deno.test("serviceAccountTokenSource() rejects a refused grant", async () => {
  const { pem } = await rsaKey();
  await using stub = stubServer(() =>
    Response.json({ error: "invalid_grant" }, { status: 400 })
  );
  const accessToken = serviceAccountTokenSource({
    client_email: "svc@p",
    private_key: pem,
    token_uri: stub.url,
  });
  await assertRejects(() => accessToken(), Error, "400 invalid_grant");
});

Deno.test("serviceAccountTokenSource() gives up on a token endpoint that never answers", async () => {
  const { pem } = await rsaKey();
  const hold = Promise.withResolvers<Response>();
  await using stub = stubServer(() => hold.promise);
  const accessToken = serviceAccountTokenSource({
    client_email: "svc@p",
    private_key: pem,
    token_uri: stub.url,
  }, { timeoutMs: 50 });
  try {
    await assertRejects(() => accessToken());
    assertEquals(stub.requests.length, 1);
  } finally {
    // Let the stub answer so the server can shut down.
    hold.resolve(new Response("late"));
  }
});
