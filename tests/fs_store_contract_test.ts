import { BLOB_ROUTE_PREFIX, BlobSigner } from "../lib/storage/blob_signer.ts";
import { FsStore } from "../lib/storage/fs_store.ts";
import { NotFoundError } from "../lib/storage/object_store.ts";
import { storeContract } from "./store_contract.ts";

storeContract("FsStore", async () => {
  const root = await Deno.makeTempDir({ prefix: "fs-store-contract-" });
  const signer = new BlobSigner("fs-store-contract-test-secret");
  // The server needs the store and the store needs the server's port.
  const storeReady = Promise.withResolvers<FsStore>();
  // A stand-in for the service's GET /v1/blobs/{bucket}/{key} route.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async function serveBlob(request) {
      const store = await storeReady.promise;
      const url = new URL(request.url);
      if (!url.pathname.startsWith(BLOB_ROUTE_PREFIX)) {
        return new Response(null, { status: 404 });
      }
      const [bucket, ...segments] = url.pathname
        .slice(BLOB_ROUTE_PREFIX.length)
        .split("/")
        .map(decodeURIComponent);
      const key = segments.join("/");
      const status = await signer.verify(
        bucket,
        key,
        url.searchParams.get("expires") ?? "",
        url.searchParams.get("sig") ?? "",
        Math.floor(Date.now() / 1000),
      );
      if (status !== "valid" || bucket !== store.bucket) {
        return new Response(status, { status: 403 });
      }
      try {
        const { info, body } = await store.get(key);
        return new Response(body, {
          headers: { "content-type": info.contentType },
        });
      } catch (err) {
        if (err instanceof NotFoundError) {
          return new Response(null, { status: 404 });
        }
        throw err;
      }
    },
  );
  const store = new FsStore({
    root,
    bucket: "test-bucket",
    signer,
    publicBaseUrl: `http://127.0.0.1:${server.addr.port}`,
  });
  storeReady.resolve(store);
  return {
    store,
    async cleanup() {
      await server.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
});
