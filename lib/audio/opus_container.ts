/**
 * The omi opus container (reference §1.4), layout only: no codec here.
 *
 * ```
 * packet_count      uint32 LE
 * original_pcm_len  uint32 LE   PCM byte length before encoding
 * packet_count × { length uint16 LE, length bytes of one Opus packet }
 * ```
 *
 * Bytes after the last packet are ignored, as the original reader does.
 *
 * @module
 */

/** Size of the container header: two uint32 fields. */
export const CONTAINER_HEADER_BYTES = 8;
/** PCM bytes in one 20 ms frame at 16 kHz mono 16-bit: 320 × 2. */
export const FRAME_PCM_BYTES = 640;
/** A packet length is a uint16. */
const MAX_PACKET_BYTES = 0xffff;
const MAX_UINT32 = 0xffff_ffff;
/** Size of one packet's length prefix. */
const PACKET_LENGTH_BYTES = 2;

/** A container that cannot be read: too short or truncated. */
export class OpusContainerError extends Error {
  /**
   * @param message what is wrong, e.g. `Cannot read opus container: too short`
   */
  constructor(message: string) {
    super(message);
    this.name = "OpusContainerError";
  }
}

/** A parsed container. */
export interface OpusContainer {
  /** PCM byte length before encoding, as stored. */
  originalPcmLen: number;
  /** The Opus packets, as views into the input. */
  packets: Uint8Array[];
}

/**
 * Lays out packets and the original PCM length as a container.
 *
 * @param packets one Opus packet per 20 ms frame, each at most 65535 bytes
 * @param originalPcmLen PCM byte length before encoding (uint32)
 *
 * @example
 * ```ts
 * writeContainer([], 0); // 8 zero bytes: the encoding of empty PCM
 * ```
 */
export function writeContainer(
  packets: readonly Uint8Array[],
  originalPcmLen: number,
): Uint8Array {
  if (
    !Number.isInteger(originalPcmLen) || originalPcmLen < 0 ||
    originalPcmLen > MAX_UINT32
  ) {
    throw new RangeError(
      `Cannot write opus container: original PCM length ${originalPcmLen} is not a uint32`,
    );
  }
  if (packets.length > MAX_UINT32) {
    throw new RangeError(
      `Cannot write opus container: ${packets.length} packets do not fit a uint32 count`,
    );
  }
  let total = CONTAINER_HEADER_BYTES;
  for (const [i, packet] of packets.entries()) {
    if (packet.length > MAX_PACKET_BYTES) {
      throw new RangeError(
        `Cannot write opus container: packet ${i} is ${packet.length} bytes, the limit is ${MAX_PACKET_BYTES}`,
      );
    }
    total += PACKET_LENGTH_BYTES + packet.length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, packets.length, true);
  view.setUint32(4, originalPcmLen, true);
  let offset = CONTAINER_HEADER_BYTES;
  for (const packet of packets) {
    view.setUint16(offset, packet.length, true);
    out.set(packet, offset + PACKET_LENGTH_BYTES);
    offset += PACKET_LENGTH_BYTES + packet.length;
  }
  return out;
}

/**
 * Walks the container and returns each packet's [start, end) offsets.
 * Shared by the reader and the length calculation so both reject the same
 * malformed input.
 */
function packetBounds(
  bytes: Uint8Array,
): { count: number; originalPcmLen: number; bounds: [number, number][] } {
  if (bytes.length < CONTAINER_HEADER_BYTES) {
    throw new OpusContainerError(
      `Cannot read opus container: too short (${bytes.length} bytes, the header needs ${CONTAINER_HEADER_BYTES})`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  const originalPcmLen = view.getUint32(4, true);
  const bounds: [number, number][] = [];
  let offset = CONTAINER_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (offset + PACKET_LENGTH_BYTES > bytes.length) {
      throw new OpusContainerError(
        `Cannot read opus container: truncated at packet ${i} of ${count} (length field missing)`,
      );
    }
    const length = view.getUint16(offset, true);
    const start = offset + PACKET_LENGTH_BYTES;
    if (start + length > bytes.length) {
      throw new OpusContainerError(
        `Cannot read opus container: truncated at packet ${i} of ${count} (needs ${length} bytes, ${
          bytes.length - start
        } left)`,
      );
    }
    bounds.push([start, start + length]);
    offset = start + length;
  }
  return { count, originalPcmLen, bounds };
}

/**
 * Splits a container into its header value and packets.
 *
 * @throws {OpusContainerError} "too short" under 8 bytes, "truncated" when a
 *   length field or a packet runs past the end
 */
export function readContainer(bytes: Uint8Array): OpusContainer {
  const { originalPcmLen, bounds } = packetBounds(bytes);
  return {
    originalPcmLen,
    packets: bounds.map(([start, end]) => bytes.subarray(start, end)),
  };
}

/**
 * The PCM byte length a container decodes to, without decoding
 * (reference §1.4): `original_pcm_len` when it is positive and at most
 * 640 × packet_count, otherwise 640 × packet_count. Assumes 20 ms packets,
 * which is what every writer of this format produces. The packet lengths
 * are still walked, so a truncated container fails here as it would in
 * decoding.
 *
 * @throws {OpusContainerError} as {@linkcode readContainer}
 */
export function containerPcmLength(bytes: Uint8Array): number {
  const { count, originalPcmLen } = packetBounds(bytes);
  const framed = FRAME_PCM_BYTES * count;
  return originalPcmLen > 0 && originalPcmLen <= framed
    ? originalPcmLen
    : framed;
}
