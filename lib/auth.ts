/**
 * Bearer-token authentication: HS256 with a shared secret (local use and
 * service-to-service) or RS256 and friends through a JWKS URL (Firebase-style
 * ID tokens). Verification uses Hono's JWT utilities; this module adds the
 * JWKS cache that Hono's `jwk` middleware lacks (it fetches the key set on
 * every request) and a 401 that says why.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { Jwt } from "hono/utils/jwt";
import {
  JwtHeaderInvalid,
  JwtHeaderRequiresKid,
  JwtTokenExpired,
  JwtTokenInvalid,
  JwtTokenNotBefore,
  JwtTokenSignatureMismatched,
} from "hono/utils/jwt/types";
import type { HonoJsonWebKey } from "hono/utils/jwt/jws";
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import { HttpError } from "./http_error.ts";
import { validatePathId } from "./storage/keys.ts";
import type { AppEnv } from "./app_env.ts";

/** Algorithms accepted from a JWKS; symmetric ones never are. */
const JWKS_ALGORITHMS = ["RS256", "ES256"] as const;
/** How long a fetched key set is trusted when it says nothing itself. */
const JWKS_DEFAULT_TTL_MS = 10 * 60_000;
/** An unknown `kid` refetches the set, at most this often (key rotation). */
const JWKS_MIN_REFETCH_MS = 30_000;

/** The authenticated caller. */
export interface AuthUser {
  /** The `sub` claim. */
  uid: string;
}

/** Verifies one bearer token. */
export interface AuthVerifier {
  /**
   * @param token the compact JWT, without `Bearer `
   * @returns the caller
   * @throws {HttpError} 401 with the reason
   */
  verify(token: string): Promise<AuthUser>;
}

/** Options of {@linkcode createAuthVerifier}; at least one of the two keys. */
export interface AuthOptions {
  /** HS256 secret. */
  hs256Secret?: string;
  /** URL of a JSON Web Key Set. */
  jwksUrl?: string;
  /** Required `aud` for JWKS tokens (a Firebase project id). */
  audience?: string;
  /** Required `iss` for JWKS tokens. */
  issuer?: string;
  /** Fetch used for the key set; tests pass their own. */
  fetch?: typeof fetch;
  clock?: Clock;
}

/**
 * Builds the token verifier from the configured keys.
 *
 * @example
 * ```ts
 * import { createAuthVerifier } from "./auth.ts";
 * const auth = createAuthVerifier({ hs256Secret: "x".repeat(32) });
 * await auth.verify("eyJ...").catch((e) => console.log(e.message));
 * ```
 */
export function createAuthVerifier(options: AuthOptions): AuthVerifier {
  const { hs256Secret, jwksUrl, audience } = options;
  if (!hs256Secret && !jwksUrl) {
    throw new TypeError(
      "Cannot create the auth verifier: neither an HS256 secret nor a JWKS URL is configured",
    );
  }
  const jwks = jwksUrl
    ? new JwksCache(
      jwksUrl,
      options.fetch ?? fetch,
      options.clock ?? systemClock,
    )
    : undefined;
  return {
    async verify(token: string): Promise<AuthUser> {
      let payload: Record<string, unknown>;
      try {
        const header = Jwt.decode(token).header;
        if (header.alg === "HS256") {
          if (!hs256Secret) {
            throw unauthorized("HS256 tokens are not accepted here");
          }
          payload = await Jwt.verify(token, hs256Secret, "HS256");
        } else {
          if (!jwks) {
            throw unauthorized(`${header.alg} tokens are not accepted here`);
          }
          payload = await Jwt.verifyWithJwks(token, {
            keys: await jwks.keysFor(header.kid),
            allowedAlgorithms: [...JWKS_ALGORITHMS],
            verification: {
              ...(audience ? { aud: audience } : {}),
              ...(options.issuer ? { iss: options.issuer } : {}),
            },
          });
        }
      } catch (error) {
        throw error instanceof HttpError
          ? error
          : unauthorized(reasonOf(error));
      }
      // A token without an expiry would be valid forever.
      if (typeof payload.exp !== "number") {
        throw unauthorized("token has no expiry (exp claim)");
      }
      const sub = payload.sub;
      if (typeof sub !== "string" || sub === "") {
        throw unauthorized("token has no subject (sub claim)");
      }
      // The uid names storage prefixes (chunks/{uid}/...): a subject that
      // could step outside its own prefix is refused here, once for all.
      try {
        validatePathId("uid", sub);
      } catch (error) {
        throw unauthorized(
          `token subject is not a usable user id (${(error as Error).message})`,
        );
      }
      return { uid: sub };
    },
  };
}

/**
 * Middleware that requires `Authorization: Bearer <JWT>` and stores the
 * caller's uid under `uid` in the context.
 *
 * @param verifier checks the token
 */
export function requireUser(
  verifier: AuthVerifier,
): MiddlewareHandler<AppEnv> {
  return async function requireUser(c, next) {
    const header = c.req.header("Authorization");
    if (!header) throw unauthorized("missing Authorization: Bearer token");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw unauthorized(
        "Authorization header is not of the form 'Bearer <token>'",
      );
    }
    const user = await verifier.verify(match[1]);
    c.set("uid", user.uid);
    await next();
  };
}

function unauthorized(reason: string): HttpError {
  return new HttpError(401, `Not authenticated: ${reason}`, {
    headers: { "WWW-Authenticate": 'Bearer error="invalid_token"' },
  });
}

function reasonOf(error: unknown): string {
  if (error instanceof JwtTokenExpired) return "token has expired";
  if (error instanceof JwtTokenNotBefore) return "token is not valid yet";
  if (error instanceof JwtTokenSignatureMismatched) {
    return "token signature does not verify";
  }
  if (error instanceof JwtHeaderRequiresKid) return "token header has no kid";
  if (error instanceof JwtTokenInvalid || error instanceof JwtHeaderInvalid) {
    return "token is malformed";
  }
  if (error instanceof Error && error.name.startsWith("Jwt")) {
    return error.message;
  }
  if (error instanceof Error && error.name === "JwksUnavailable") {
    return error.message;
  }
  return "token is malformed";
}

/** A key set fetched once and refreshed on expiry or an unknown `kid`. */
class JwksCache {
  #url: string;
  #fetch: typeof fetch;
  #clock: Clock;
  #keys: HonoJsonWebKey[] = [];
  #expiresAt = 0;
  #fetchedAt = -Infinity;
  #pending: Promise<void> | undefined;

  constructor(url: string, fetchFn: typeof fetch, clock: Clock) {
    this.#url = url;
    this.#fetch = fetchFn;
    this.#clock = clock;
  }

  async keysFor(kid: unknown): Promise<HonoJsonWebKey[]> {
    const now = this.#clock.now();
    const known = this.#keys.some((key) => key.kid === kid);
    const stale = now >= this.#expiresAt;
    const mayRefetch = now - this.#fetchedAt >= JWKS_MIN_REFETCH_MS;
    if (stale || (!known && mayRefetch)) {
      // One fetch at a time, shared by every request that needs it.
      this.#pending ??= this.#refresh().finally(() => {
        this.#pending = undefined;
      });
      await this.#pending;
    }
    return this.#keys;
  }

  async #refresh(): Promise<void> {
    this.#fetchedAt = this.#clock.now();
    let response: Response;
    try {
      response = await this.#fetch(this.#url);
    } catch (cause) {
      throw jwksUnavailable(`cannot fetch the key set: ${String(cause)}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw jwksUnavailable(`key set answered ${response.status}`);
    }
    const body = await response.json().catch(() => undefined);
    if (!body || !Array.isArray(body.keys)) {
      throw jwksUnavailable("key set has no keys array");
    }
    this.#keys = body.keys;
    const maxAge = /max-age=(\d+)/.exec(
      response.headers.get("cache-control") ?? "",
    );
    this.#expiresAt = this.#fetchedAt +
      (maxAge ? Number(maxAge[1]) * 1000 : JWKS_DEFAULT_TTL_MS);
  }
}

function jwksUnavailable(message: string): Error {
  const error = new Error(message);
  error.name = "JwksUnavailable";
  return error;
}

/**
 * Signs an HS256 token for `uid`, for `deno task token` and tests.
 *
 * @param uid the `sub` claim
 * @param options the secret, lifetime in seconds (default one day) and clock
 */
export function signDevToken(
  uid: string,
  options: { secret: string; ttlSeconds?: number; clock?: Clock },
): Promise<string> {
  const now = Math.floor((options.clock ?? systemClock).now() / 1000);
  return Jwt.sign(
    { sub: uid, iat: now, exp: now + (options.ttlSeconds ?? 86_400) },
    options.secret,
    "HS256",
  );
}

/** File under `DATA_DIR` holding the generated local HS256 secret. */
export const DEV_SECRET_FILE = "dev-jwt-secret";

/**
 * The HS256 secret for local use: `AUTH_JWT_SECRET` when set, otherwise a
 * random one generated once and kept in `$DATA_DIR/dev-jwt-secret` so that
 * `deno task dev` and `deno task token` agree without any setup.
 *
 * @param dataDir the data directory
 */
export async function loadOrCreateDevSecret(dataDir: string): Promise<string> {
  const path = `${dataDir}/${DEV_SECRET_FILE}`;
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
  try {
    await Deno.writeTextFile(path, secret + "\n", {
      createNew: true,
      mode: 0o600,
    });
    return secret;
  } catch (error) {
    // Another process created it first: use theirs.
    if (error instanceof Deno.errors.AlreadyExists) {
      return (await Deno.readTextFile(path)).trim();
    }
    throw error;
  }
}
