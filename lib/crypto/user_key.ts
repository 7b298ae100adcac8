/**
 * Per-user AES-256-GCM keys derived from the service's master secret
 * (reference §2): HKDF-SHA256 with the UTF-8 secret as input key material,
 * the UTF-8 uid as salt and `user-data-encryption` as info. Byte for byte
 * the key the original backend derives, so its objects stay readable.
 *
 * @module
 */

/** The original refuses a master secret shorter than this (reference §2). */
export const MIN_SECRET_BYTES = 32;
/** HKDF `info` of the original (reference §2). */
const KEY_INFO = "user-data-encryption";
/** AES-256: a 32-byte key. */
const KEY_BITS = 256;

const encoder = new TextEncoder();

/**
 * Checks that a master secret is long enough.
 *
 * @throws {RangeError} naming the byte length and the minimum
 */
export function validateSecret(secret: string): void {
  const bytes = encoder.encode(secret).length;
  if (bytes < MIN_SECRET_BYTES) {
    throw new RangeError(
      `Cannot use the encryption secret: it is ${bytes} bytes of UTF-8, at least ${MIN_SECRET_BYTES} are required`,
    );
  }
}

/**
 * Derives the AES-GCM key of one user. The key is not extractable and can
 * encrypt and decrypt. Callers that derive often should cache by uid.
 *
 * @param secret the master secret (`ENCRYPTION_SECRET`), at least
 *   {@linkcode MIN_SECRET_BYTES} bytes of UTF-8
 * @param uid the user id, used as the HKDF salt
 * @throws {RangeError} when the secret is too short
 *
 * @example
 * ```ts
 * const key = await deriveUserKey(Deno.env.get("ENCRYPTION_SECRET")!, uid);
 * ```
 */
export async function deriveUserKey(
  secret: string,
  uid: string,
): Promise<CryptoKey> {
  validateSecret(secret);
  const material = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    "HKDF",
    false,
    ["deriveKey"],
  );
  return await crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: encoder.encode(uid),
      info: encoder.encode(KEY_INFO),
    },
    material,
    { name: "AES-GCM", length: KEY_BITS },
    false,
    ["encrypt", "decrypt"],
  );
}
