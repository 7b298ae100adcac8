import { assertEquals, assertRejects } from "@std/assert";
import { Jwt } from "hono/utils/jwt";
import { createAuthVerifier, signDevToken } from "./auth.ts";
import { HttpError } from "./http_error.ts";

const SECRET = "auth-test-secret-0123456789abcdef0123";

Deno.test("AuthVerifier.verify() accepts an HS256 token and returns its sub as uid", async () => {
  const auth = createAuthVerifier({ hs256Secret: SECRET });
  const token = await signDevToken("alice", { secret: SECRET });
  assertEquals(await auth.verify(token), { uid: "alice" });
});

const rejections: Array<[string, () => Promise<string>, string]> = [
  [
    "an expired token",
    () => Jwt.sign({ sub: "a", exp: 1 }, SECRET, "HS256"),
    "token has expired",
  ],
  [
    "a token signed with another secret",
    () => signDevToken("a", { secret: "another-secret-0123456789abcdef01234" }),
    "signature does not verify",
  ],
  ["a malformed token", () => Promise.resolve("not.a.jwt"), "malformed"],
  [
    "a token without sub",
    () => Jwt.sign({ exp: 9_999_999_999 }, SECRET, "HS256"),
    "no subject",
  ],
  [
    "a token without an expiry",
    () => Jwt.sign({ sub: "a" }, SECRET, "HS256"),
    "no expiry",
  ],
  [
    "a subject that would leave its storage prefix",
    () => signDevToken("../other-user", { secret: SECRET }),
    "not a usable user id",
  ],
  [
    "a subject with a slash",
    () => signDevToken("a/b", { secret: SECRET }),
    "not a usable user id",
  ],
  [
    "an RS256 token when no JWKS is configured",
    () => Promise.resolve(fakeRs256()),
    "not accepted",
  ],
];

for (const [what, make, reason] of rejections) {
  Deno.test(`AuthVerifier.verify() answers 401 with the reason for ${what}`, async () => {
    const auth = createAuthVerifier({ hs256Secret: SECRET });
    const error = await assertRejects(
      async () => await auth.verify(await make()),
      HttpError,
    );
    assertEquals(error.status, 401);
    assertEquals(error.message.includes(reason), true, error.message);
  });
}

function fakeRs256(): string {
  const enc = (o: unknown) =>
    btoa(JSON.stringify(o)).replace(/=+$/, "").replaceAll("+", "-").replaceAll(
      "/",
      "_",
    );
  return `${enc({ alg: "RS256", typ: "JWT", kid: "k" })}.${
    enc({ sub: "x" })
  }.c2ln`;
}

async function makeRsaKey(kid: string) {
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
  const publicJwk = {
    ...(await crypto.subtle.exportKey("jwk", pair.publicKey)),
    kid,
    alg: "RS256",
    use: "sig",
  };
  const privateJwk = {
    ...(await crypto.subtle.exportKey("jwk", pair.privateKey)),
    kid,
    alg: "RS256",
  };
  return { publicJwk, privateJwk };
}

/** Serves a JWKS on 127.0.0.1 and counts the fetches. */
function serveJwks(keys: () => unknown[]) {
  let fetches = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => {
      fetches++;
      return Response.json({ keys: keys() });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/jwks.json`;
  return { url, fetches: () => fetches, close: () => server.shutdown() };
}

Deno.test("AuthVerifier.verify() accepts RS256 tokens through a JWKS served on loopback and caches the key set", async () => {
  const { publicJwk, privateJwk } = await makeRsaKey("key-1");
  const jwks = serveJwks(() => [publicJwk]);
  try {
    const auth = createAuthVerifier({
      jwksUrl: jwks.url,
      audience: "omi-prod",
    });
    const now = Math.floor(Date.now() / 1000);
    const token = await Jwt.sign(
      { sub: "bob", aud: "omi-prod", iat: now, exp: now + 600 },
      privateJwk,
      "RS256",
    );
    assertEquals(await auth.verify(token), { uid: "bob" });
    assertEquals(await auth.verify(token), { uid: "bob" });
    assertEquals(
      jwks.fetches(),
      1,
      "the key set is fetched once, not per request",
    );

    const wrongAud = await Jwt.sign(
      { sub: "bob", aud: "other", exp: now + 600 },
      privateJwk,
      "RS256",
    );
    const error = await assertRejects(() => auth.verify(wrongAud), HttpError);
    assertEquals(error.status, 401);

    const strict = createAuthVerifier({
      jwksUrl: jwks.url,
      audience: "omi-prod",
      issuer: "https://securetoken.google.com/omi-prod",
    });
    const foreignIssuer = await Jwt.sign(
      {
        sub: "bob",
        aud: "omi-prod",
        iss: "https://securetoken.google.com/evil",
        exp: now + 600,
      },
      privateJwk,
      "RS256",
    );
    assertEquals(
      (await assertRejects(() => strict.verify(foreignIssuer), HttpError))
        .status,
      401,
    );
    const ours = await Jwt.sign(
      {
        sub: "bob",
        aud: "omi-prod",
        iss: "https://securetoken.google.com/omi-prod",
        exp: now + 600,
      },
      privateJwk,
      "RS256",
    );
    assertEquals(await strict.verify(ours), { uid: "bob" });

    const other = await makeRsaKey("key-1");
    const forged = await Jwt.sign(
      { sub: "bob", aud: "omi-prod", exp: now + 600 },
      other.privateJwk,
      "RS256",
    );
    const forgedError = await assertRejects(
      () => auth.verify(forged),
      HttpError,
    );
    assertEquals(
      forgedError.message.includes("signature does not verify"),
      true,
      forgedError.message,
    );
  } finally {
    await jwks.close();
  }
});

Deno.test("AuthVerifier.verify() refetches the JWKS once for an unknown kid (key rotation)", async () => {
  const first = await makeRsaKey("old");
  const second = await makeRsaKey("new");
  let served = [first.publicJwk];
  const jwks = serveJwks(() => served);
  try {
    let now = 1_000_000;
    const clock = {
      now: () => now,
      sleep: () => Promise.resolve(),
      random: () => 0.5,
    };
    const auth = createAuthVerifier({ jwksUrl: jwks.url, clock });
    const exp = Math.floor(Date.now() / 1000) + 600;
    assertEquals(
      await auth.verify(
        await Jwt.sign({ sub: "a", exp }, first.privateJwk, "RS256"),
      ),
      { uid: "a" },
    );
    served = [first.publicJwk, second.publicJwk];
    now += 60_000;
    assertEquals(
      await auth.verify(
        await Jwt.sign({ sub: "b", exp }, second.privateJwk, "RS256"),
      ),
      { uid: "b" },
    );
    assertEquals(jwks.fetches(), 2);
  } finally {
    await jwks.close();
  }
});
