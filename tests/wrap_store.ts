/**
 * A store that forwards every call to another, except the ones a test or
 * benchmark replaces (a slow writer, a racing writer, a discarding sink).
 *
 * @module
 */
import type { ObjectStore } from "../lib/storage/object_store.ts";

/**
 * Wraps `store`, replacing the methods in `overrides`.
 *
 * @param store the store that serves every other call
 * @param overrides the methods to replace
 */
export function wrapStore(
  store: ObjectStore,
  overrides: Partial<Omit<ObjectStore, "bucket">>,
): ObjectStore {
  return {
    bucket: store.bucket,
    list: (prefix, options) => store.list(prefix, options),
    head: (key, options) => store.head(key, options),
    get: (key, options) => store.get(key, options),
    getBytes: (key, options) => store.getBytes(key, options),
    put: (key, body, options) => store.put(key, body, options),
    delete: (key, options) => store.delete(key, options),
    deletePrefix: (prefix, options) => store.deletePrefix(prefix, options),
    signedUrl: (key, options) => store.signedUrl(key, options),
    ...overrides,
  };
}
