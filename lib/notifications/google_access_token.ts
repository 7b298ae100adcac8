/**
 * OAuth 2 access tokens for a Google service account (the JWT bearer grant,
 * RFC 7523), which the FCM HTTP v1 API requires. Tokens are cached until
 * shortly before they expire.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";

/** The scope FCM HTTP v1 needs. */
export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
/** Google's token endpoint, used when the key has no `token_uri`. */
export const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
/** Google issues assertions for at most one hour. */
const ASSERTION_TTL_SECONDS = 3600;
/** Renew this long before expiry, so a token never expires mid-request. */
const RENEW_BEFORE_MS = 60_000;

/** The fields of a service account key file this module reads. */
export interface ServiceAccountKey {
  client_email: string;
  /** PKCS #8 PEM. */
  private_key: string;
  token_uri?: string;
}

/** Options of {@linkcode serviceAccountTokenSource}. */
export interface TokenSourceOptions {
  scope?: string;
  fetch?: typeof fetch;
  /** Longest wait for the token endpoint; default 30 s. */
  timeoutMs?: number;
  clock?: Clock;
}

/** A token endpoint slower than this is treated as down. */
const DEFAULT_TOKEN_TIMEOUT_MS = 30_000;

/**
 * Returns a function that yields a valid access token, fetching a new one
 * only when the cached one is about to expire; concurrent callers share one
 * fetch.
 *
 * @example
 * ```ts ignore
 * const accessToken = serviceAccountTokenSource(JSON.parse(keyJson));
 * const token = await accessToken(signal);
 * ```
 */
export function serviceAccountTokenSource(
  key: ServiceAccountKey,
  options: TokenSourceOptions = {},
): (signal?: AbortSignal) => Promise<string> {
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
  const clock = options.clock ?? systemClock;
  const tokenUri = key.token_uri ?? GOOGLE_TOKEN_URI;
  let cached: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;
  let signingKey: Promise<CryptoKey> | undefined;

  async function fetchToken(): Promise<string> {
    signingKey ??= importPrivateKey(key.private_key);
    const now = Math.floor(clock.now() / 1000);
    const assertion = await signJwt(await signingKey, {
      iss: key.client_email,
      scope: options.scope ?? FCM_SCOPE,
      aud: tokenUri,
      iat: now,
      exp: now + ASSERTION_TTL_SECONDS,
    });
    // Not tied to one caller's signal: other callers share this fetch. Its
    // own time limit keeps one stalled connection from holding every push.
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new Error("the token endpoint did not answer")),
      timeoutMs,
    );
    let response: Response;
    let body: Record<string, unknown>;
    try {
      response = await fetchFn(tokenUri, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
          assertion,
        }),
        signal: timeout.signal,
      });
      body = await response.json().catch(() => ({}));
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok || typeof body.access_token !== "string") {
      throw new Error(
        `Cannot get a Google access token for "${key.client_email}": token endpoint answered ${response.status} ${
          String(body.error ?? "")
        }`,
      );
    }
    const ttlMs = (Number(body.expires_in) || ASSERTION_TTL_SECONDS) * 1000;
    cached = { token: body.access_token, expiresAt: clock.now() + ttlMs };
    return body.access_token;
  }

  return async function accessToken(signal) {
    signal?.throwIfAborted();
    if (cached && clock.now() < cached.expiresAt - RENEW_BEFORE_MS) {
      return cached.token;
    }
    pending ??= fetchToken().finally(() => {
      pending = undefined;
    });
    if (!signal) return await pending;
    return await new Promise<string>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      pending!.then(resolve, reject).finally(() =>
        signal.removeEventListener("abort", onAbort)
      );
    });
  };
}

function importPrivateKey(pem: string): Promise<CryptoKey> {
  const base64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

async function signJwt(
  key: CryptoKey,
  claims: Record<string, unknown>,
): Promise<string> {
  const encoder = new TextEncoder();
  const header = base64Url(
    encoder.encode(JSON.stringify({ alg: "RS256", typ: "JWT" })),
  );
  const payload = base64Url(encoder.encode(JSON.stringify(claims)));
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    key,
    encoder.encode(`${header}.${payload}`),
  );
  return `${header}.${payload}.${base64Url(new Uint8Array(signature))}`;
}

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}
