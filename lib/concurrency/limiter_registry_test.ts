import {
  assertEquals,
  assertInstanceOf,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import type { Clock } from "../clock.ts";
import { MetricsRegistry } from "../metrics.ts";
import { createDefaultLimiters, LimiterRegistry } from "./limiter_registry.ts";
import { Semaphore } from "./semaphore.ts";

Deno.test("createDefaultLimiters() sizes storage.chunk 32, storage.file 4 and notify.user 8 by default", () => {
  const limiters = createDefaultLimiters();
  assertEquals(limiters.names, [
    "storage.chunk",
    "storage.file",
    "notify.user",
  ]);
  assertEquals(limiters.get("storage.chunk").permits, 32);
  assertEquals(limiters.get("storage.file").permits, 4);
  assertEquals(limiters.get("notify.user").permits, 8);
  assertEquals(limiters.get("storage.chunk").name, "storage.chunk");
});

Deno.test("createDefaultLimiters() applies overrides and keeps defaults for unset values", async () => {
  const limiters = createDefaultLimiters({
    "storage.chunk": { permits: 64, maxWaiting: 1 },
    "storage.file": { permits: undefined, perKeyCap: 1 },
  });
  const chunks = limiters.get("storage.chunk");
  assertEquals(chunks.permits, 64);
  const files = limiters.get("storage.file");
  assertEquals(files.permits, 4);
  using _held = await files.acquire({ key: "alice" });
  assertEquals(files.tryAcquire({ key: "alice" }), null);
  assertEquals(limiters.get("notify.user").permits, 8);
});

Deno.test("createDefaultLimiters() hands its clock to every limiter", async () => {
  let now = 0;
  const clock: Clock = {
    now: () => now,
    sleep: () => new Promise(() => {}),
    random: () => 0,
  };
  const limiters = createDefaultLimiters({}, { clock });
  const files = limiters.get("storage.file");
  const held = await Promise.all([1, 2, 3, 4].map(() => files.acquire()));
  const waiting = files.acquire();
  now = 2_500;
  assertEquals(files.longestWaitMs, 2_500);
  held[0].release();
  (await waiting).release();
  for (const permit of held.slice(1)) permit.release();
  assertEquals(files.inFlight, 0);
  assertEquals(files.releasedTwice, 0);
});

Deno.test("LimiterRegistry.get() throws for a limiter that was never defined", () => {
  const limiters = new LimiterRegistry();
  limiters.define("storage.chunk", { permits: 2 });
  assertThrows(
    () => limiters.get("storage.blob"),
    Error,
    'Cannot find limiter "storage.blob": it is not defined (known: storage.chunk)',
  );
});

Deno.test("LimiterRegistry.define() refuses a name defined already", () => {
  const limiters = new LimiterRegistry();
  const first = limiters.define("merge.user", { permits: 2 });
  assertInstanceOf(first, Semaphore);
  assertStrictEquals(limiters.get("merge.user"), first);
  assertThrows(
    () => limiters.define("merge.user", { permits: 3 }),
    Error,
    'Cannot define limiter "merge.user": a limiter of that name exists already',
  );
  assertEquals(limiters.get("merge.user").permits, 2);
  assertEquals(limiters.has("merge.user"), true);
  assertEquals(limiters.has("other"), false);
});

Deno.test("LimiterRegistry.collect() merges the series of every limiter under one family", async () => {
  const limiters = createDefaultLimiters();
  using _chunk = await limiters.get("storage.chunk").acquire();
  const families = limiters.collect();
  const names = families.map((family) => family.name);
  assertEquals(names.length, new Set(names).size);
  const inFlight = families.find((family) =>
    family.name === "audiosync_limiter_in_flight"
  );
  assertEquals(inFlight?.samples, [
    { labels: { limiter: "storage.chunk" }, value: 1 },
    { labels: { limiter: "storage.file" }, value: 0 },
    { labels: { limiter: "notify.user" }, value: 0 },
  ]);
});

Deno.test("LimiterRegistry.attach() shows live limiter gauges in /metrics output, also for limiters defined later", async () => {
  const metrics = new MetricsRegistry();
  const limiters = new LimiterRegistry();
  const detach = limiters.attach(metrics);
  const chunks = limiters.define("storage.chunk", { permits: 2 });
  const permit = await chunks.acquire();
  const text = metrics.render();
  assertStringIncludes(
    text,
    '\naudiosync_limiter_in_flight{limiter="storage.chunk"} 1\n',
  );
  assertStringIncludes(text, "# TYPE audiosync_limiter_granted_total counter");
  permit.release();
  assertStringIncludes(
    metrics.render(),
    'audiosync_limiter_in_flight{limiter="storage.chunk"} 0',
  );
  detach();
  assertEquals(metrics.render(), "\n");
});
