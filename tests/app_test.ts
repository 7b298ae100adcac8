import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { authHeader, makeTestApp, testConfig } from "./test_utils.ts";

Deno.test("unknown routes answer 404 with a JSON detail", async () => {
  await using t = await makeTestApp();
  const { app } = t;
  const res = await app.request("/no/such/route");
  assertEquals(res.status, 404);
  assertEquals(res.headers.get("content-type"), "application/json");
  assertEquals(await res.json(), { detail: "Not Found" });
});

Deno.test("routes under /v1 and /v2 answer 401 with a reason when the token is missing or not Bearer", async () => {
  await using t = await makeTestApp();
  const { app } = t;
  for (
    const [path, headers, reason] of [
      ["/v1/conversations/c1", {}, "missing Authorization"],
      [
        "/v2/sync-local-files/j1",
        { Authorization: "Basic abc" },
        "Bearer <token>",
      ],
      [
        "/v1/conversations/c1",
        { Authorization: "Bearer not.a.jwt" },
        "malformed",
      ],
    ] as const
  ) {
    const res = await app.request(path, { headers });
    assertEquals(res.status, 401, path);
    const body = await res.json();
    assertStringIncludes(body.detail, reason);
  }
});

Deno.test("an unhandled error is a 500 with a generic detail and no stack, logged with the request id", async () => {
  await using t = await makeTestApp();
  const { app, logs } = t;
  app.get("/v1/boom", () => {
    throw new Error("database password is hunter2");
  });
  const res = await app.request("/v1/boom", {
    headers: await authHeader("u1"),
  });
  assertEquals(res.status, 500);
  const text = await res.text();
  assertEquals(JSON.parse(text), { detail: "Internal Server Error" });
  assertEquals(text.includes("hunter2"), false);
  const logged = logs.find((entry) => entry.msg === "unhandled error");
  assertStringIncludes(String(logged?.error), "hunter2");
  assertEquals(logged?.request_id, res.headers.get("x-request-id"));
});

Deno.test("every response carries X-Request-Id, echoing a client's id", async () => {
  await using t = await makeTestApp();
  const { app } = t;
  const generated = await app.request("/healthz");
  assertMatch(generated.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  const echoed = await app.request("/healthz", {
    headers: { "X-Request-Id": "abc-123" },
  });
  assertEquals(echoed.headers.get("x-request-id"), "abc-123");
});

Deno.test("the access log is one JSON entry per request with method, path, status, ms, request id and uid", async () => {
  await using t = await makeTestApp();
  const { app, logs } = t;
  app.get("/v1/whoami", (c) => c.json({ uid: c.get("uid") }));
  const res = await app.request("/v1/whoami", {
    headers: await authHeader("carol"),
  });
  assertEquals(await res.json(), { uid: "carol" });
  const entry = logs.find((e) => e.msg === "request");
  assertEquals(entry?.method, "GET");
  assertEquals(entry?.path, "/v1/whoami");
  assertEquals(entry?.status, 200);
  assertEquals(entry?.uid, "carol");
  assertEquals(entry?.request_id, res.headers.get("x-request-id"));
  assertEquals(typeof entry?.ms, "number");
});

Deno.test("secure headers are set but leave responses loadable cross-origin (audio playback)", async () => {
  await using t = await makeTestApp();
  const { app } = t;
  const res = await app.request("/healthz");
  assertEquals(res.headers.get("x-content-type-options"), "nosniff");
  assertEquals(res.headers.get("cross-origin-resource-policy"), "cross-origin");
  assertEquals(res.headers.get("cross-origin-opener-policy"), null);
});

Deno.test("a body over the limit answers 413 with the limit in the detail", async () => {
  await using t = await makeTestApp({
    config: testConfig({ MAX_BODY_BYTES: "16" }),
  });
  const { app } = t;
  app.put(
    "/v1/echo",
    async (c) => c.json({ size: (await c.req.arrayBuffer()).byteLength }),
  );
  const headers = await authHeader("u1");
  const ok = await app.request("/v1/echo", {
    method: "PUT",
    headers,
    body: new Uint8Array(16),
  });
  assertEquals(await ok.json(), { size: 16 });
  const tooBig = await app.request("/v1/echo", {
    method: "PUT",
    headers,
    body: new Uint8Array(17),
  });
  assertEquals(tooBig.status, 413);
  assertStringIncludes((await tooBig.json()).detail, "16 bytes");
});

Deno.test("GET /healthz answers ok, then 503 draining once shutdown starts", async () => {
  await using t = await makeTestApp();
  const { app, shutdown } = t;
  assertEquals(await (await app.request("/healthz")).json(), { status: "ok" });
  shutdown.abort();
  const res = await app.request("/healthz");
  assertEquals(res.status, 503);
  assertEquals(await res.json(), { status: "draining" });
});

Deno.test("GET /metrics renders registered collectors in the Prometheus text format", async () => {
  await using t = await makeTestApp();
  const { app, deps } = t;
  deps.metrics.register(() => [{
    name: "audiosync_test_gauge",
    help: "A gauge for the test",
    type: "gauge",
    samples: [{ labels: { limiter: 'a"b' }, value: 3 }],
  }]);
  const res = await app.request("/metrics");
  assertEquals(res.status, 200);
  assertStringIncludes(
    res.headers.get("content-type") ?? "",
    "text/plain; version=0.0.4",
  );
  const text = await res.text();
  assertStringIncludes(text, "# TYPE audiosync_test_gauge gauge\n");
  assertStringIncludes(text, 'audiosync_test_gauge{limiter="a\\"b"} 3\n');
});
