import {
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { GcsStore, toStorageError } from "./gcs_store.ts";
import {
  NotFoundError,
  PreconditionFailedError,
  TransientStorageError,
} from "./object_store.ts";

const OBJECT = { bucket: "bkt", key: "chunks/u/c/1.000.bin" };

function apiError(code: number): Error {
  return Object.assign(new Error(`status ${code}`), { code });
}

Deno.test("toStorageError() maps HTTP statuses to the store's errors", () => {
  assertInstanceOf(toStorageError(apiError(404), OBJECT), NotFoundError);
  assertInstanceOf(
    toStorageError(apiError(412), OBJECT),
    PreconditionFailedError,
  );
  for (const status of [408, 429, 500, 502, 503, 504]) {
    const mapped = toStorageError(apiError(status), OBJECT);
    assertInstanceOf(mapped, TransientStorageError);
    assertEquals(mapped.status, status);
  }
  const forbidden = apiError(403);
  assertStrictEquals(toStorageError(forbidden, OBJECT), forbidden);
});

Deno.test("toStorageError() treats resets and time-outs as transient, keeping the cause", () => {
  const reset = Object.assign(new Error("socket hang up"), {
    code: "ECONNRESET",
  });
  const mapped = toStorageError(reset, OBJECT);
  assertInstanceOf(mapped, TransientStorageError);
  assertStrictEquals(mapped.cause, reset);

  const wrapped = new Error("request failed", {
    cause: Object.assign(new Error("timeout"), { code: "ETIMEDOUT" }),
  });
  assertInstanceOf(toStorageError(wrapped, OBJECT), TransientStorageError);

  const abort = new DOMException("aborted", "AbortError");
  assertStrictEquals(toStorageError(abort, OBJECT), abort);
});

Deno.test("GcsStore reports a refused connection as a TransientStorageError", async () => {
  // A port that was just free: nothing listens there any more.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const previous = Deno.env.get("STORAGE_EMULATOR_HOST");
  Deno.env.delete("STORAGE_EMULATOR_HOST");
  try {
    const store = new GcsStore({
      bucket: "bkt",
      projectId: "demo-audiosync",
      apiEndpoint: `http://127.0.0.1:${port}`,
    });
    const err = await assertRejects(
      () => store.head("a"),
      TransientStorageError,
    );
    assertEquals(isConnectionRefused(err.cause), true);
  } finally {
    if (previous !== undefined) Deno.env.set("STORAGE_EMULATOR_HOST", previous);
  }
});

Deno.test("GcsStore refuses a STORAGE_EMULATOR_HOST without a scheme", () => {
  const previous = Deno.env.get("STORAGE_EMULATOR_HOST");
  Deno.env.set("STORAGE_EMULATOR_HOST", "127.0.0.1:9199");
  try {
    assertThrows(
      () => new GcsStore({ bucket: "bkt" }),
      TypeError,
      "http://127.0.0.1:9199",
    );
  } finally {
    if (previous === undefined) Deno.env.delete("STORAGE_EMULATOR_HOST");
    else Deno.env.set("STORAGE_EMULATOR_HOST", previous);
  }
});

function isConnectionRefused(err: unknown): boolean {
  for (let e = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === "ECONNREFUSED") return true;
  }
  return false;
}
