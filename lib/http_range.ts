/**
 * The single byte range the download route accepts (reference 5.2).
 *
 * @module
 */
import { HttpError } from "./http_error.ts";

/** An inclusive byte range within a representation of `size` bytes. */
export interface ResolvedRange {
  start: number;
  end: number;
}

/**
 * Parses a `Range` header against a representation's size.
 *
 * Accepts exactly one of `bytes=a-b`, `bytes=a-`, `bytes=-n`; clamps the end
 * to `size - 1`. Anything else, several ranges, or a range that selects
 * nothing is a 416 carrying `Content-Range: bytes *\/size`, as in the
 * original (RFC 9110 would ignore a malformed header; clients rely on the
 * 416 here).
 *
 * @param header the `Range` header, or undefined
 * @param size the representation's length in bytes
 * @returns the range, or null when there is no header
 * @throws {HttpError} 416
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ResolvedRange | null {
  if (header === undefined) return null;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || (match[1] === "" && match[2] === "")) {
    throw unsatisfiable(size, `Range "${header}" is not a single byte range`);
  }
  let start: number;
  let end: number;
  if (match[1] === "") {
    // bytes=-n: the last n bytes. n larger than the file is refused, as in
    // the original (start < 0).
    const suffix = Number(match[2]);
    start = size - suffix;
    end = size - 1;
    if (suffix === 0) start = size;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
    if (match[2] !== "" && Number(match[2]) < start) {
      throw unsatisfiable(size, `Range "${header}" ends before it starts`);
    }
  }
  if (start < 0 || start >= size || start > end) {
    throw unsatisfiable(
      size,
      `Range "${header}" is outside the ${size} bytes of the file`,
    );
  }
  return { start, end };
}

function unsatisfiable(size: number, detail: string): HttpError {
  return new HttpError(416, detail, {
    headers: { "Content-Range": `bytes */${size}` },
  });
}
