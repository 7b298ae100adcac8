/**
 * The canonical WAV header of the merged-audio cache (reference §1.6):
 * 44 bytes, PCM16 little-endian, mono, 16 kHz.
 *
 * @module
 */

/** Canonical sample rate in Hz (reference §0). */
export const SAMPLE_RATE = 16000;
/** Canonical channel count (reference §0). */
export const CHANNELS = 1;
/** Canonical sample width in bits (reference §0). */
export const BITS_PER_SAMPLE = 16;
/** Bytes per sample frame: one 16-bit mono sample. */
export const BLOCK_ALIGN = CHANNELS * BITS_PER_SAMPLE / 8;
/** PCM bytes per second of canonical audio: 16000 × 2 = 32000. */
export const BYTES_PER_SECOND = SAMPLE_RATE * BLOCK_ALIGN;
/** Size of the header {@linkcode wavHeader} writes. */
export const WAV_HEADER_BYTES = 44;

/** WAVE format tag for integer PCM. */
const FORMAT_PCM = 1;
/** Size of a plain PCM `fmt ` chunk body. */
const FMT_CHUNK_BYTES = 16;
/** RIFF sizes are uint32; the RIFF size field counts 36 header bytes too. */
const MAX_DATA_BYTES = 0xffff_ffff - (WAV_HEADER_BYTES - 8);

/** What {@linkcode parseWavHeader} found. */
export interface WavInfo {
  /** Samples per second. */
  sampleRate: number;
  /** Channel count. */
  channels: number;
  /** Bits per sample. */
  bitsPerSample: number;
  /** Offset of the first PCM byte. */
  dataOffset: number;
  /** PCM byte count declared by the `data` chunk. */
  dataBytes: number;
}

function ascii(view: DataView, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) {
    view.setUint8(offset + i, text.charCodeAt(i));
  }
}

function readAscii(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + 4));
}

/**
 * Builds the 44-byte header for `dataBytes` of canonical PCM.
 *
 * @param dataBytes PCM byte count that will follow the header
 * @returns `RIFF`, 36 + N, `WAVE`, a 16-byte PCM `fmt ` chunk, `data`, N
 *
 * @example
 * ```ts
 * const wav = new Uint8Array(WAV_HEADER_BYTES + pcm.length);
 * wav.set(wavHeader(pcm.length));
 * wav.set(pcm, WAV_HEADER_BYTES);
 * ```
 */
export function wavHeader(dataBytes: number): Uint8Array {
  if (
    !Number.isInteger(dataBytes) || dataBytes < 0 ||
    dataBytes > MAX_DATA_BYTES
  ) {
    throw new RangeError(
      `Cannot build WAV header for ${dataBytes} bytes: size must be an integer from 0 to ${MAX_DATA_BYTES}`,
    );
  }
  const header = new Uint8Array(WAV_HEADER_BYTES);
  const view = new DataView(header.buffer);
  ascii(view, 0, "RIFF");
  view.setUint32(4, WAV_HEADER_BYTES - 8 + dataBytes, true);
  ascii(view, 8, "WAVE");
  ascii(view, 12, "fmt ");
  view.setUint32(16, FMT_CHUNK_BYTES, true);
  view.setUint16(20, FORMAT_PCM, true);
  view.setUint16(22, CHANNELS, true);
  view.setUint32(24, SAMPLE_RATE, true);
  view.setUint32(28, BYTES_PER_SECOND, true);
  view.setUint16(32, BLOCK_ALIGN, true);
  view.setUint16(34, BITS_PER_SAMPLE, true);
  ascii(view, 36, "data");
  view.setUint32(40, dataBytes, true);
  return header;
}

/**
 * Parses and validates the header of a WAV this service writes: PCM16 mono
 * 16 kHz. Chunks between `fmt ` and `data` (such as `LIST`) are skipped.
 * Only the header must be present; the declared data size is returned as
 * written, so a header read by itself (a range read) parses too.
 *
 * @param bytes the start of the file, at least up to the `data` chunk header
 * @throws {Error} when the file is not RIFF/WAVE or not canonical PCM
 */
export function parseWavHeader(bytes: Uint8Array): WavInfo {
  const fail = (why: string): never => {
    throw new Error(`Cannot parse WAV header: ${why}`);
  };
  if (bytes.length < 12) fail(`too short (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (readAscii(bytes, 0) !== "RIFF" || readAscii(bytes, 8) !== "WAVE") {
    fail("not a RIFF/WAVE file");
  }
  let format: Omit<WavInfo, "dataOffset" | "dataBytes"> | null = null;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = readAscii(bytes, offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "fmt ") {
      if (size < FMT_CHUNK_BYTES || body + FMT_CHUNK_BYTES > bytes.length) {
        fail(`fmt chunk too short (${size} bytes)`);
      }
      const tag = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const sampleRate = view.getUint32(body + 4, true);
      const byteRate = view.getUint32(body + 8, true);
      const blockAlign = view.getUint16(body + 12, true);
      const bitsPerSample = view.getUint16(body + 14, true);
      if (tag !== FORMAT_PCM) fail(`format ${tag} is not PCM`);
      if (
        channels !== CHANNELS || sampleRate !== SAMPLE_RATE ||
        bitsPerSample !== BITS_PER_SAMPLE
      ) {
        fail(
          `${channels} channel(s) at ${sampleRate} Hz, ${bitsPerSample} bits is not mono 16000 Hz 16-bit`,
        );
      }
      if (byteRate !== BYTES_PER_SECOND || blockAlign !== BLOCK_ALIGN) {
        fail(`byte rate ${byteRate} or block align ${blockAlign} inconsistent`);
      }
      format = { sampleRate, channels, bitsPerSample };
    } else if (id === "data") {
      if (format === null) fail("data chunk before fmt chunk");
      return { ...format!, dataOffset: body, dataBytes: size };
    }
    // RIFF chunks are padded to an even size.
    offset = body + size + (size % 2);
  }
  return fail("no data chunk in the header bytes");
}
