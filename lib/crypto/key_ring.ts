/**
 * Per-user keys derived once and kept in a bounded cache. Besides the
 * AES-GCM key that encrypts and decrypts frames, it offers an AES-CTR view
 * of the same key bytes: GCM encrypts with CTR, so the first plaintext bytes
 * of a frame can be read without fetching the whole frame. The merge uses
 * that to read an `.opus.enc` chunk's PCM length from 24 bytes when it plans
 * the WAV size; the full decrypt still verifies the tag.
 *
 * @module
 */
import { validateSecret } from "./user_key.ts";

/** HKDF `info` of the original (reference section 2). */
const KEY_INFO = "user-data-encryption";
/** Users whose keys stay cached; a key costs about a microsecond to use and ~100 µs to derive. */
const DEFAULT_CAPACITY = 10_000;

const encoder = new TextEncoder();

/** One user's keys. */
export interface UserKeys {
  /** AES-256-GCM: decrypt and encrypt frames. */
  gcm: CryptoKey;
  /** AES-256-CTR over the same bytes: read plaintext without the tag. */
  ctr: CryptoKey;
}

/** Thrown when a key is needed and no `ENCRYPTION_SECRET` is configured. */
export class EncryptionUnavailableError extends Error {
  constructor() {
    super(
      "Cannot encrypt or decrypt audio: ENCRYPTION_SECRET is not configured",
    );
    this.name = "EncryptionUnavailableError";
  }
}

/**
 * Derives and caches per-user keys from the master secret.
 *
 * @example
 * ```ts ignore
 * const ring = new KeyRing("a secret of at least thirty-two bytes!!");
 * const { gcm } = await ring.keysFor("uid-1");
 * ```
 */
export class KeyRing {
  #material: Promise<CryptoKey> | undefined;
  #cache = new Map<string, Promise<UserKeys>>();
  #capacity: number;

  /**
   * @param secret `ENCRYPTION_SECRET`; undefined makes every lookup throw
   * @param options cache capacity
   */
  constructor(
    secret: string | undefined,
    options: { capacity?: number } = {},
  ) {
    if (secret !== undefined) {
      validateSecret(secret);
      this.#material = crypto.subtle.importKey(
        "raw",
        encoder.encode(secret),
        "HKDF",
        false,
        ["deriveBits"],
      );
    }
    this.#capacity = options.capacity ?? DEFAULT_CAPACITY;
  }

  /** Whether a secret is configured. */
  get available(): boolean {
    return this.#material !== undefined;
  }

  /**
   * The user's keys.
   *
   * @throws {EncryptionUnavailableError} without a secret
   */
  keysFor(uid: string): Promise<UserKeys> {
    const material = this.#material;
    if (!material) return Promise.reject(new EncryptionUnavailableError());
    let keys = this.#cache.get(uid);
    if (keys) {
      // Refresh recency: Map iteration order is insertion order.
      this.#cache.delete(uid);
      this.#cache.set(uid, keys);
      return keys;
    }
    keys = derive(material, uid);
    keys.catch(() => this.#cache.delete(uid));
    this.#cache.set(uid, keys);
    if (this.#cache.size > this.#capacity) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    return keys;
  }
}

async function derive(
  material: Promise<CryptoKey>,
  uid: string,
): Promise<UserKeys> {
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: encoder.encode(uid),
      info: encoder.encode(KEY_INFO),
    },
    await material,
    256,
  );
  const [gcm, ctr] = await Promise.all([
    crypto.subtle.importKey("raw", bits, "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]),
    crypto.subtle.importKey("raw", bits, "AES-CTR", false, ["decrypt"]),
  ]);
  return { gcm, ctr };
}

/**
 * Decrypts the first bytes of a GCM ciphertext without verifying the tag:
 * GCM's first plaintext block uses counter block `nonce || 00000002`.
 * Use only for planning; trust nothing until the full decrypt verified it.
 *
 * @param ctr the user's CTR key
 * @param nonce the frame's 12-byte nonce
 * @param ciphertextPrefix the first bytes of the ciphertext
 */
export async function peekGcmPlaintext(
  ctr: CryptoKey,
  nonce: Uint8Array,
  ciphertextPrefix: Uint8Array,
): Promise<Uint8Array> {
  const counter = new Uint8Array(16);
  counter.set(nonce, 0);
  counter[15] = 2;
  const plain = await crypto.subtle.decrypt(
    { name: "AES-CTR", counter, length: 32 },
    ctr,
    ciphertextPrefix as Uint8Array<ArrayBuffer>,
  );
  return new Uint8Array(plain);
}
