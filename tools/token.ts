/**
 * `deno task token <uid> [ttl-seconds]`: prints a bearer token for local use,
 * signed with `AUTH_JWT_SECRET` or the generated dev secret under `DATA_DIR`
 * (the same one `deno task dev` uses).
 *
 * @module
 */
import { loadOrCreateDevSecret, signDevToken } from "../lib/auth.ts";
import { ConfigError, loadConfig } from "../lib/config.ts";

if (import.meta.main) {
  const [uid, ttl] = Deno.args;
  if (!uid) {
    console.error("Usage: deno task token <uid> [ttl-seconds]");
    Deno.exit(2);
  }
  try {
    const config = loadConfig(Deno.env.toObject());
    const secret = config.authJwtSecret ??
      await loadOrCreateDevSecret(config.dataDir);
    const ttlSeconds = ttl === undefined ? undefined : Number(ttl);
    if (ttlSeconds !== undefined && !(ttlSeconds > 0)) {
      console.error(`Cannot sign: ttl-seconds must be positive, got "${ttl}"`);
      Deno.exit(2);
    }
    console.log(await signDevToken(uid, { secret, ttlSeconds }));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    Deno.exit(1);
  }
}
