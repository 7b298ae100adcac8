import { assertEquals } from "@std/assert";
import { ManualClock } from "./_test_helpers.ts";
import {
  DailySummaryLedger,
  type DailySummaryRecord,
  NOTIFY_LOCK_TTL_MS,
} from "./idempotency.ts";

const RECORD: DailySummaryRecord = {
  summary_id: "s",
  uid: "u",
  date: "2026-05-01",
  state: "sending",
  title: "t",
  body: "b",
  content: {},
  run_id: "r",
  created_at: "2026-05-01T00:00:00Z",
};

Deno.test("DailySummaryLedger.claim() grants one of many concurrent claims", async () => {
  using kv = await Deno.openKv(":memory:");
  const ledger = new DailySummaryLedger(kv, { clock: new ManualClock(0) });
  const claims = await Promise.all(
    Array.from(
      { length: 10 },
      (_, i) => ledger.claim("u", "2026-05-01", `run-${i}`),
    ),
  );
  assertEquals(claims.filter((c) => c.status === "claimed").length, 1);
  assertEquals(claims.filter((c) => c.status === "locked").length, 9);
});

Deno.test("DailySummaryLedger takes over an expired lock, not a live one", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(0);
  const ledger = new DailySummaryLedger(kv, { clock });
  const first = await ledger.claim("u", "d", "a");
  assertEquals(first.status, "claimed");
  clock.advance(NOTIFY_LOCK_TTL_MS - 1);
  assertEquals((await ledger.claim("u", "d", "b")).status, "locked");
  clock.advance(1);
  const second = await ledger.claim("u", "d", "b");
  assertEquals(second.status, "claimed");
  // The first holder's lock is gone: it may no longer begin.
  if (first.status !== "claimed") throw new Error("unreachable");
  assertEquals(await ledger.begin(first.lock, RECORD), false);
});

Deno.test("DailySummaryLedger: a record blocks every later claim", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(0);
  const ledger = new DailySummaryLedger(kv, { clock });
  const claim = await ledger.claim("u", "d", "a");
  if (claim.status !== "claimed") throw new Error(claim.status);
  assertEquals(await ledger.begin(claim.lock, RECORD), true);
  await ledger.finish(claim.lock, { ...RECORD, state: "delivered" });
  clock.advance(NOTIFY_LOCK_TTL_MS * 10);
  const again = await ledger.claim("u", "d", "b");
  assertEquals(again.status, "already_done");
  assertEquals(await ledger.peek("u", "d"), "already_done");
  assertEquals(
    await Array.fromAsync(kv.list({ prefix: ["notify_lock"] })),
    [],
  );
});

Deno.test("DailySummaryLedger.release() frees the pair for another run", async () => {
  using kv = await Deno.openKv(":memory:");
  const ledger = new DailySummaryLedger(kv, { clock: new ManualClock(0) });
  const claim = await ledger.claim("u", "d", "a");
  if (claim.status !== "claimed") throw new Error(claim.status);
  await ledger.release(claim.lock);
  assertEquals(await ledger.peek("u", "d"), "free");
  assertEquals((await ledger.claim("u", "d", "b")).status, "claimed");
});
