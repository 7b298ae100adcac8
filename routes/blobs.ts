/**
 * Serves signed blob URLs of the `fs` store: `GET /v1/blobs/{bucket}/{key}`
 * with `expires` and `sig` from `BlobSigner`. No bearer token: the
 * signature is the credential, as with a GCS V4 URL.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps, AppEnv } from "../lib/app_env.ts";
import { HttpError } from "../lib/http_error.ts";
import { parseRange } from "../lib/http_range.ts";
import { BLOB_ROUTE_PREFIX } from "../lib/storage/blob_signer.ts";

/** `GET /v1/blobs/...`. */
export function blobRoutes(
  deps: Pick<AppDeps, "blobBuckets" | "blobSigner" | "clock">,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(`${BLOB_ROUTE_PREFIX}*`, async (c) => {
    const rest = c.req.path.slice(BLOB_ROUTE_PREFIX.length);
    let segments: string[];
    try {
      segments = rest.split("/").map(decodeURIComponent);
    } catch {
      throw new HttpError(400, "Blob path is not valid percent-encoding");
    }
    const [bucket, ...keyParts] = segments;
    const key = keyParts.join("/");
    const store = deps.blobBuckets.get(bucket);
    if (!store || key === "") throw new HttpError(404, "Blob not found");
    const expires = c.req.query("expires") ?? "";
    const sig = c.req.query("sig") ?? "";
    const verdict = await deps.blobSigner.verify(
      bucket,
      key,
      expires,
      sig,
      Math.floor(deps.clock.now() / 1000),
    );
    if (verdict === "expired") {
      throw new HttpError(403, "Signed URL has expired");
    }
    if (verdict !== "valid") {
      throw new HttpError(403, "Signed URL signature is invalid");
    }
    const info = await store.head(key);
    if (!info) throw new HttpError(404, "Blob not found");
    const range = parseRange(c.req.header("Range"), info.size);
    const { body } = await store.get(key, { range: range ?? undefined });
    const headers: Record<string, string> = {
      "Content-Type": info.contentType,
      "Accept-Ranges": "bytes",
      "Cache-Control": "private, max-age=300",
    };
    if (range) {
      headers["Content-Range"] =
        `bytes ${range.start}-${range.end}/${info.size}`;
      headers["Content-Length"] = String(range.end - range.start + 1);
      return c.body(body, 206, headers);
    }
    headers["Content-Length"] = String(info.size);
    return c.body(body, 200, headers);
  });
  return app;
}
