import { MemoryStore } from "../lib/storage/memory_store.ts";
import { storeContract } from "./store_contract.ts";

storeContract("MemoryStore", () => {
  const store = new MemoryStore({ bucket: "test-bucket" });
  return Promise.resolve({
    store,
    cleanup: () => Promise.resolve(),
    // memory:// URLs have no server; resolve them against the store itself,
    // honouring the expiry the store wrote into the URL.
    async fetchSignedUrl(url: string): Promise<Response> {
      const parsed = new URL(url);
      const expires = Number(parsed.searchParams.get("expires"));
      if (parsed.protocol !== "memory:" || parsed.host !== store.bucket) {
        return new Response(null, { status: 400 });
      }
      if (expires * 1000 < Date.now()) {
        return new Response(null, { status: 403 });
      }
      const key = decodeURIComponent(parsed.pathname.slice(1));
      return new Response(
        new Blob([await store.getBytes(key) as Uint8Array<ArrayBuffer>]),
      );
    },
  });
});
