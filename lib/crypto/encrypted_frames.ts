/**
 * Encrypted frames, the on-disk form of every encrypted object
 * (reference §2):
 *
 * ```
 * L        uint32 big-endian = 12 + length of ciphertext‖tag
 * nonce    12 bytes
 * ciphertext‖tag   L − 12 bytes (AES-256-GCM, 16-byte tag, no AAD)
 * ```
 *
 * A file is one or more frames back to back; `.batch.enc` holds one frame
 * per chunk.
 *
 * @module
 */
import { concatBytes } from "../bytes.ts";

/** AES-GCM nonce length (reference §2). */
export const NONCE_BYTES = 12;
/** AES-GCM tag length (reference §2). */
export const TAG_BYTES = 16;
/** The big-endian uint32 length prefix. */
export const LENGTH_PREFIX_BYTES = 4;
/** Bytes a frame adds to its plaintext: 4 + 12 + 16 = 32. */
export const FRAME_OVERHEAD_BYTES = LENGTH_PREFIX_BYTES + NONCE_BYTES +
  TAG_BYTES;
/** Largest plaintext whose frame length still fits the uint32 prefix. */
const MAX_PLAINTEXT_BYTES = 0xffff_ffff - NONCE_BYTES - TAG_BYTES;

/** A file of frames that is malformed or fails authentication. */
export class EncryptedFrameError extends Error {
  /**
   * @param message what is wrong and at which frame
   * @param options the WebCrypto error as `cause`
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EncryptedFrameError";
  }
}

interface FrameSlice {
  nonce: Uint8Array<ArrayBuffer>;
  sealed: Uint8Array<ArrayBuffer>;
}

/** WebCrypto wants ArrayBuffer-backed views; copy anything else. */
function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? bytes as Uint8Array<ArrayBuffer>
    : new Uint8Array(bytes);
}

/** Walks the length prefixes; throws on anything but whole frames. */
function splitFrames(bytes: Uint8Array): FrameSlice[] {
  const data = ownBuffer(bytes);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const frames: FrameSlice[] = [];
  let offset = 0;
  while (offset < data.length) {
    const index = frames.length;
    if (offset + LENGTH_PREFIX_BYTES > data.length) {
      throw new EncryptedFrameError(
        `Cannot read encrypted frame ${index} at byte ${offset}: short header (${
          data.length - offset
        } of ${LENGTH_PREFIX_BYTES} bytes)`,
      );
    }
    const length = view.getUint32(offset, false);
    const start = offset + LENGTH_PREFIX_BYTES;
    if (length < NONCE_BYTES + TAG_BYTES) {
      throw new EncryptedFrameError(
        `Cannot read encrypted frame ${index} at byte ${offset}: length ${length} is less than nonce and tag (${
          NONCE_BYTES + TAG_BYTES
        })`,
      );
    }
    if (start + length > data.length) {
      throw new EncryptedFrameError(
        `Cannot read encrypted frame ${index} at byte ${offset}: short frame (${
          data.length - start
        } of ${length} bytes)`,
      );
    }
    frames.push({
      nonce: data.subarray(start, start + NONCE_BYTES),
      sealed: data.subarray(start + NONCE_BYTES, start + length),
    });
    offset = start + length;
  }
  return frames;
}

/**
 * Encrypts one plaintext into one frame.
 *
 * @param key the user's AES-GCM key (see `deriveUserKey`)
 * @param plaintext the bytes to seal
 * @param nonce 12 bytes; random by default. Pass one only in tests: a
 *   nonce reused under the same key breaks AES-GCM.
 * @returns `L | nonce | ciphertext‖tag`
 *
 * @example
 * ```ts
 * const frame = await encryptFrame(key, pcm);
 * (await decryptFrames(key, frame)); // pcm
 * ```
 */
export async function encryptFrame(
  key: CryptoKey,
  plaintext: Uint8Array,
  nonce?: Uint8Array,
): Promise<Uint8Array> {
  if (plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw new RangeError(
      `Cannot encrypt ${plaintext.length} bytes into one frame: the limit is ${MAX_PLAINTEXT_BYTES}`,
    );
  }
  const iv = nonce === undefined
    ? crypto.getRandomValues(new Uint8Array(NONCE_BYTES))
    : ownBuffer(nonce);
  if (iv.length !== NONCE_BYTES) {
    throw new RangeError(
      `Cannot encrypt frame: nonce is ${iv.length} bytes, AES-GCM here uses ${NONCE_BYTES}`,
    );
  }
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv },
      key,
      ownBuffer(plaintext),
    ),
  );
  const frame = new Uint8Array(
    LENGTH_PREFIX_BYTES + NONCE_BYTES + sealed.length,
  );
  new DataView(frame.buffer).setUint32(0, NONCE_BYTES + sealed.length, false);
  frame.set(iv, LENGTH_PREFIX_BYTES);
  frame.set(sealed, LENGTH_PREFIX_BYTES + NONCE_BYTES);
  return frame;
}

/**
 * Encrypts each plaintext into its own frame, concatenated in order (the
 * `.batch.enc` layout).
 *
 * @param key the user's AES-GCM key
 * @param plaintexts one entry per frame
 */
export async function encryptFrames(
  key: CryptoKey,
  plaintexts: readonly Uint8Array[],
): Promise<Uint8Array> {
  const frames = await Promise.all(
    plaintexts.map((plaintext) => encryptFrame(key, plaintext)),
  );
  return concatBytes(frames);
}

/**
 * Decrypts every frame of a file and returns the plaintexts one by one (a
 * `.batch.enc` blob holds one chunk per frame). The structure is checked
 * before anything is decrypted; a short header, a short frame or a bad tag
 * fails the whole file.
 *
 * @param key the user's AES-GCM key
 * @param bytes the whole object
 * @throws {EncryptedFrameError} naming the first bad frame
 */
export async function decryptFrameList(
  key: CryptoKey,
  bytes: Uint8Array,
): Promise<Uint8Array[]> {
  const frames = splitFrames(bytes);
  return await Promise.all(
    frames.map(async ({ nonce, sealed }, index) => {
      try {
        return new Uint8Array(
          await crypto.subtle.decrypt(
            { name: "AES-GCM", iv: nonce },
            key,
            sealed,
          ),
        );
      } catch (error) {
        throw new EncryptedFrameError(
          `Cannot decrypt frame ${index} of ${frames.length}: authentication failed (wrong key or corrupted data)`,
          { cause: error },
        );
      }
    }),
  );
}

/**
 * Decrypts every frame of a file and concatenates the plaintexts
 * (reference §2). Empty input gives empty output.
 *
 * @param key the user's AES-GCM key
 * @param bytes the whole object
 * @throws {EncryptedFrameError} as {@linkcode decryptFrameList}
 */
export async function decryptFrames(
  key: CryptoKey,
  bytes: Uint8Array,
): Promise<Uint8Array> {
  return concatBytes(await decryptFrameList(key, bytes));
}

/**
 * The plaintext length of each frame (`L - 12 - 16`), from the length
 * prefixes alone: no key, no decryption.
 *
 * @throws {EncryptedFrameError} for a short header or a short frame
 */
export function framePlaintextLengths(bytes: Uint8Array): number[] {
  return splitFrames(bytes).map(({ sealed }) => sealed.length - TAG_BYTES);
}

/**
 * Counts the frames of a file by walking the length prefixes, without
 * decrypting. The plaintext length is then
 * `bytes.length - FRAME_OVERHEAD_BYTES * frames`.
 *
 * @throws {EncryptedFrameError} for a short header or a short frame
 */
export function countFrames(bytes: Uint8Array): number {
  return splitFrames(bytes).length;
}
