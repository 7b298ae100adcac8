/**
 * Groups a conversation's listed chunks into audio files (reference
 * section 3).
 *
 * @module
 */
import type { ListedChunk } from "../storage/keys.ts";

/**
 * A start more than 90 s after the previous start opens a new file. It must
 * exceed the longest chunk (a 60 s batch); older versions of the original
 * used 30 s (reference section 3).
 */
export const NEW_FILE_GAP_SECONDS = 90;

/**
 * Splits chunks, sorted by timestamp, into runs where each start is at most
 * {@linkcode NEW_FILE_GAP_SECONDS} after the previous one.
 *
 * @param sorted the listing, sorted by timestamp (as `parseListing` returns it)
 * @returns one array per audio file, in time order; none for no chunks
 */
export function groupChunks(sorted: readonly ListedChunk[]): ListedChunk[][] {
  const groups: ListedChunk[][] = [];
  let current: ListedChunk[] = [];
  for (const chunk of sorted) {
    const previous = current.at(-1);
    // Strictly greater, as in the original.
    if (
      previous && chunk.timestamp - previous.timestamp > NEW_FILE_GAP_SECONDS
    ) {
      groups.push(current);
      current = [];
    }
    current.push(chunk);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
