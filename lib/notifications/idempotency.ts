/**
 * At most one daily summary per (user, date), even when runs overlap or a
 * run is retried after a crash (reference section 8, "Idempotency").
 *
 * Two KV keys per (user, date):
 *
 * - `["notify_lock", uid, date]`: taken atomically (its versionstamp and the
 *   record's must be unchanged since read), with an expiry of 2 h, so a
 *   crashed run's lock frees itself.
 * - `["daily_summaries", uid, date]`: the durable record, which is also the
 *   stored summary (`summary_id`, title, body, content).
 *
 * Crash semantics, chosen to be at-most-once: the record is written in
 * state `sending` before the first delivery attempt, in the same atomic
 * operation that checks the lock is still ours, and set to `delivered` or
 * `failed` afterwards. A run skips a (user, date) with any record. So:
 *
 * - a crash before `sending` (while summarizing) sent nothing; the lock
 *   expires and a later run may try again;
 * - a crash between `sending` and `delivered` is never retried: the push
 *   may or may not have arrived, and a second copy is worse for a daily
 *   digest than a missing one. The record stays `sending`, visible to
 *   operators, who can delete it to force a resend.
 *
 * Delivery failures (`failed`) are not retried for the same reason: a
 * timed-out request may have been delivered.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { SummaryContent } from "./summarizer.ts";

/** The original's per-user Redis lock lived 2 h (reference section 8). */
export const NOTIFY_LOCK_TTL_MS = 2 * 60 * 60 * 1000;
/** Read-check-write retries of a claim when another run races it. */
const CLAIM_ATTEMPTS = 3;

/** Where a (user, date) summary stands. */
export type DailySummaryState = "sending" | "delivered" | "failed";

/** The durable record of a (user, date) summary. */
export interface DailySummaryRecord {
  summary_id: string;
  uid: string;
  /** `YYYY-MM-DD`. */
  date: string;
  state: DailySummaryState;
  title: string;
  body: string;
  content: SummaryContent;
  /** The run that wrote it. */
  run_id: string;
  created_at: string;
  finished_at?: string;
  /** Why delivery failed. */
  error?: string;
  push?: { sent: number; failed: number };
  webhook?: "sent" | "failed" | "none";
}

/** The lock value in KV. */
interface LockValue {
  owner: string;
  expires_at: number;
}

/** A lock this process holds on a (user, date). */
export interface UserDayLock {
  uid: string;
  date: string;
  owner: string;
  versionstamp: string;
}

/** The result of {@linkcode DailySummaryLedger.claim}. */
export type ClaimResult =
  | { status: "claimed"; lock: UserDayLock }
  | { status: "already_done"; record: DailySummaryRecord }
  | { status: "locked"; owner: string };

/** Options of the {@linkcode DailySummaryLedger} constructor. */
export interface LedgerOptions {
  clock: Clock;
  /** Default {@linkcode NOTIFY_LOCK_TTL_MS}. */
  lockTtlMs?: number;
}

/**
 * The locks and records of daily summaries.
 *
 * @example
 * ```ts ignore
 * const ledger = new DailySummaryLedger(kv, { clock });
 * const claim = await ledger.claim("uid-1", "2026-05-01", runId);
 * if (claim.status === "claimed") { ... }
 * ```
 */
export class DailySummaryLedger {
  readonly #kv: Deno.Kv;
  readonly #clock: Clock;
  readonly #ttlMs: number;

  /** @param kv the store */
  constructor(kv: Deno.Kv, options: LedgerOptions) {
    this.#kv = kv;
    this.#clock = options.clock;
    this.#ttlMs = options.lockTtlMs ?? NOTIFY_LOCK_TTL_MS;
  }

  /**
   * Takes the lock of (uid, date) for `owner` unless a record exists or an
   * unexpired lock is held. An expired lock is taken over.
   */
  async claim(uid: string, date: string, owner: string): Promise<ClaimResult> {
    const lockKey = ["notify_lock", uid, date];
    const recordKey = ["daily_summaries", uid, date];
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const [lock, record] = await this.#kv.getMany<
        [LockValue, DailySummaryRecord]
      >([lockKey, recordKey]);
      if (record.value) return { status: "already_done", record: record.value };
      const now = this.#clock.now();
      if (lock.value && lock.value.expires_at > now) {
        return { status: "locked", owner: lock.value.owner };
      }
      const result = await this.#kv.atomic()
        .check(lock, record)
        .set(lockKey, { owner, expires_at: now + this.#ttlMs }, {
          expireIn: this.#ttlMs,
        })
        .commit();
      if (result.ok) {
        return {
          status: "claimed",
          lock: { uid, date, owner, versionstamp: result.versionstamp },
        };
      }
    }
    const lock = await this.#kv.get<LockValue>(lockKey);
    return { status: "locked", owner: lock.value?.owner ?? "unknown" };
  }

  /**
   * Writes the record in state `sending` if `lock` is still held and no
   * record exists; false means another run owns this (user, date) now.
   * Call it right before the first delivery attempt.
   */
  async begin(lock: UserDayLock, record: DailySummaryRecord): Promise<boolean> {
    const result = await this.#kv.atomic()
      .check({
        key: ["notify_lock", lock.uid, lock.date],
        versionstamp: lock.versionstamp,
      })
      .check({
        key: ["daily_summaries", lock.uid, lock.date],
        versionstamp: null,
      })
      .set(["daily_summaries", lock.uid, lock.date], {
        ...record,
        state: "sending",
      })
      .commit();
    return result.ok;
  }

  /** Stores the delivery's outcome in the record and drops the lock. */
  async finish(lock: UserDayLock, record: DailySummaryRecord): Promise<void> {
    await this.#kv.atomic()
      .set(["daily_summaries", lock.uid, lock.date], record)
      .delete(["notify_lock", lock.uid, lock.date])
      .commit();
  }

  /** Drops `lock` if it is still this one, so a later run may try again. */
  async release(lock: UserDayLock): Promise<void> {
    await this.#kv.atomic()
      .check({
        key: ["notify_lock", lock.uid, lock.date],
        versionstamp: lock.versionstamp,
      })
      .delete(["notify_lock", lock.uid, lock.date])
      .commit();
  }

  /** What {@linkcode claim} would say, without taking anything. */
  async peek(
    uid: string,
    date: string,
  ): Promise<"free" | "locked" | "already_done"> {
    const [lock, record] = await this.#kv.getMany<
      [LockValue, DailySummaryRecord]
    >([["notify_lock", uid, date], ["daily_summaries", uid, date]]);
    if (record.value) return "already_done";
    if (lock.value && lock.value.expires_at > this.#clock.now()) {
      return "locked";
    }
    return "free";
  }

  /** The record of (uid, date), or null. */
  async record(uid: string, date: string): Promise<DailySummaryRecord | null> {
    return (await this.#kv.get<DailySummaryRecord>([
      "daily_summaries",
      uid,
      date,
    ]))
      .value;
  }
}
