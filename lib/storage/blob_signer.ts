/**
 * HMAC-SHA256 signatures for the filesystem store's signed URLs, checked by
 * the `GET /v1/blobs/{bucket}/{key}?expires=..&sig=..` route.
 *
 * @module
 */

/** The outcome of {@linkcode BlobSigner.verify}. */
export type BlobSignatureStatus = "valid" | "expired" | "invalid";

/** The path under which the service serves signed blob reads. */
export const BLOB_ROUTE_PREFIX = "/v1/blobs/";

const SIGNATURE_HEX = /^[0-9a-f]{64}$/;
const EXPIRES_DIGITS = /^[0-9]{1,15}$/;

/**
 * Signs and verifies `(bucket, key, expiry)` triples with a secret.
 *
 * @example
 * ```ts
 * const signer = new BlobSigner("a long random secret");
 * const sig = await signer.sign("b", "merged/u/c/f.wav", 1_900_000_000);
 * await signer.verify("b", "merged/u/c/f.wav", "1900000000", sig, 1_800_000_000); // "valid"
 * ```
 */
export class BlobSigner {
  #key: Promise<CryptoKey>;

  /** @param secret the HMAC key; any non-empty string */
  constructor(secret: string) {
    if (typeof secret !== "string" || secret.length === 0) {
      throw new TypeError("Cannot create a BlobSigner: the secret is empty");
    }
    this.#key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
  }

  /**
   * The lowercase hex signature of `(bucket, key, expiresAtSeconds)`.
   *
   * @param expiresAtSeconds Unix time in whole seconds after which the
   * signature is no longer valid
   */
  async sign(
    bucket: string,
    key: string,
    expiresAtSeconds: number,
  ): Promise<string> {
    if (!Number.isSafeInteger(expiresAtSeconds) || expiresAtSeconds < 0) {
      throw new TypeError(
        `Cannot sign expiry ${expiresAtSeconds}: it is not a whole number of seconds`,
      );
    }
    const mac = await crypto.subtle.sign(
      "HMAC",
      await this.#key,
      message(bucket, key, String(expiresAtSeconds)),
    );
    return toHex(new Uint8Array(mac));
  }

  /**
   * The URL `${publicBaseUrl}/v1/blobs/${bucket}/${key}?expires=..&sig=..`
   * that the blob route serves; each key segment is percent-encoded.
   */
  async signUrl(
    publicBaseUrl: string,
    object: { bucket: string; key: string; expiresAtSeconds: number },
  ): Promise<string> {
    const { bucket, key, expiresAtSeconds } = object;
    const sig = await this.sign(bucket, key, expiresAtSeconds);
    const path = [bucket, ...key.split("/")].map(encodeURIComponent).join("/");
    const base = publicBaseUrl.replace(/\/+$/, "");
    return `${base}${BLOB_ROUTE_PREFIX}${path}?expires=${expiresAtSeconds}&sig=${sig}`;
  }

  /**
   * Checks a signature taken from a URL. `"expired"` is returned only for a
   * genuine signature whose expiry is before `nowSeconds`, so a client never
   * learns that a forged URL merely expired.
   *
   * @param expires the `expires` query value (Unix seconds, digits only)
   * @param sig the `sig` query value (64 lowercase hex digits)
   * @param nowSeconds the current Unix time in seconds
   */
  async verify(
    bucket: string,
    key: string,
    expires: string | number,
    sig: string,
    nowSeconds: number,
  ): Promise<BlobSignatureStatus> {
    const expiresText = String(expires);
    if (!EXPIRES_DIGITS.test(expiresText) || !SIGNATURE_HEX.test(sig)) {
      return "invalid";
    }
    // crypto.subtle.verify compares MACs in constant time.
    const genuine = await crypto.subtle.verify(
      "HMAC",
      await this.#key,
      fromHex(sig),
      message(bucket, key, expiresText),
    );
    if (!genuine) return "invalid";
    return Number(expiresText) < nowSeconds ? "expired" : "valid";
  }
}

/**
 * Bucket, key and expiry joined by NUL, which no bucket, key (see
 * `assertValidKey`) or digit string contains, so no two triples collide.
 */
function message(
  bucket: string,
  key: string,
  expires: string,
): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${bucket}\u0000${key}\u0000${expires}`);
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}
