/**
 * One run of the daily summary job: select the users due now, and for each,
 * under a per-user deadline and at most 8 at a time, gather the day's
 * conversations, summarize, store and deliver; collect every user's settled
 * outcome into a report (reference section 8).
 *
 * @module
 */
import type { LogSink } from "../access_log.ts";
import type { Clock } from "../clock.ts";
import type { LimiterRegistry } from "../concurrency/limiter_registry.ts";
import {
  listConversationsStartedIn,
  summarizableDay,
  type SummarySkipReason,
} from "./conversations_for_summary.ts";
import {
  DeadlineExceededError,
  fanOut,
  type FanOutStrategy,
  NOTIFY_CONCURRENCY,
} from "./fan_out.ts";
import { DailySummaryLedger, type DailySummaryRecord } from "./idempotency.ts";
import { NotificationUsers } from "./notification_users.ts";
import type { DailySummaryDelivery, Notifier } from "./notifier.ts";
import type { Summarizer } from "./summarizer.ts";
import { buildSummaryMessage } from "./summary_message.ts";
import { type DueUser, selectDueUsers } from "./user_selection.ts";

/**
 * Each user's budget: a language-model call (tens of seconds at worst) plus
 * pushes. The original had no deadline (reference section 8, "Weakness").
 */
export const DEFAULT_USER_DEADLINE_MS = 120_000;

/** The summarizer, notifiers and policy of the daily summary. */
export interface NotificationDeps {
  summarizer: Summarizer;
  /** FCM (or the log notifier in development). */
  push: Notifier;
  /** Posts to users' webhooks; null to never post. */
  webhook: Notifier | null;
  /** Uids allowed to call the operator route. */
  operatorUids: ReadonlySet<string>;
  /** Per-user deadline. */
  userDeadlineMs: number;
  /** Fan-out strategy of scheduled runs. */
  strategy: FanOutStrategy;
}

/** What a run needs. */
export interface DailySummaryRunDeps {
  kv: Deno.Kv;
  clock: Clock;
  log: LogSink;
  notifications: NotificationDeps;
  /**
   * The process's limiters: each user holds a `notify.user` permit while it
   * runs, so overlapping runs share 8 slots and `/metrics` shows them.
   */
  limiters?: LimiterRegistry;
}

/** `"live"` summarizes and delivers; `"dry_run"` only reports what it would do. */
export type RunMode = "live" | "dry_run";

/** Options of {@linkcode runDailySummaries}. */
export interface RunOptions {
  /** The run's instant; default the clock's now. */
  now?: Date;
  /** Default `"live"`. */
  mode?: RunMode;
  /** Default the deps' strategy. */
  strategy?: FanOutStrategy;
  /** Default {@linkcode NOTIFY_CONCURRENCY}. */
  concurrency?: number;
  /** Stops the run: running users abort, the rest fail at once. */
  signal?: AbortSignal;
}

/** Why a user was not summarized. */
export type SkipReason =
  | SummarySkipReason
  | "already_sent"
  | "already_attempted"
  | "locked"
  | "no_delivery_target";

/** One user's outcome. */
export type UserOutcome =
  & { uid: string; date: string; time_zone: string }
  & (
    | {
      status: "delivered";
      summary_id: string;
      push: { sent: number; failed: number };
      webhook: "sent" | "failed" | "none";
    }
    | { status: "skipped"; reason: SkipReason }
    | { status: "would_deliver"; conversations: number }
    | { status: "failed"; error: string }
  );

/** Counts of outcomes. */
export interface RunTotals {
  selected: number;
  delivered: number;
  skipped: number;
  failed: number;
  would_deliver: number;
}

/** What a run did. */
export interface RunReport {
  run_id: string;
  mode: RunMode;
  strategy: FanOutStrategy;
  /** The instant users were selected for. */
  now: string;
  started_at: string;
  finished_at: string;
  totals: RunTotals;
  users: UserOutcome[];
}

/**
 * Runs the daily summary once. It never throws for one user's failure:
 * every user's outcome is in the report.
 *
 * @example
 * ```ts ignore
 * const report = await runDailySummaries(deps, { mode: "dry_run" });
 * console.log(report.totals);
 * ```
 */
export async function runDailySummaries(
  deps: DailySummaryRunDeps,
  options: RunOptions = {},
): Promise<RunReport> {
  const runId = crypto.randomUUID();
  const startedAt = new Date(deps.clock.now());
  const now = options.now ?? startedAt;
  const mode = options.mode ?? "live";
  const strategy = options.strategy ?? deps.notifications.strategy;
  const ledger = new DailySummaryLedger(deps.kv, { clock: deps.clock });
  const due = await selectDueUsers(new NotificationUsers(deps.kv), now);

  // Live users share the process's notify.user slots with overlapping
  // runs; a dry run sends nothing and takes none.
  const slots = mode === "live" && deps.limiters?.has("notify.user")
    ? deps.limiters.get("notify.user")
    : undefined;
  const results = await fanOut(
    due,
    (user, signal) =>
      mode === "dry_run"
        ? dryRunUser(deps, ledger, user)
        : runUser(deps, { ledger, runId }, { user, signal }),
    {
      strategy,
      concurrency: options.concurrency ?? NOTIFY_CONCURRENCY,
      deadlineMs: deps.notifications.userDeadlineMs,
      clock: deps.clock,
      signal: options.signal,
      slots,
    },
  );

  const users: UserOutcome[] = results.map((result) => {
    if (result.status === "fulfilled") return result.value;
    const { user, day } = result.item;
    const error = describe(result.reason);
    deps.log({
      time: new Date(deps.clock.now()).toISOString(),
      level: "error",
      msg: "Daily summary failed for user",
      run_id: runId,
      uid: user.uid,
      date: day.dateStr,
      error,
    });
    return {
      uid: user.uid,
      date: day.dateStr,
      time_zone: day.timeZone,
      status: "failed",
      error,
    };
  });
  const report: RunReport = {
    run_id: runId,
    mode,
    strategy,
    now: now.toISOString(),
    started_at: startedAt.toISOString(),
    finished_at: new Date(deps.clock.now()).toISOString(),
    totals: totalsOf(users),
    users,
  };
  deps.log({
    time: report.finished_at,
    level: "info",
    msg: "daily summary run",
    run_id: runId,
    mode,
    strategy,
    ...report.totals,
  });
  return report;
}

function totalsOf(users: UserOutcome[]): RunTotals {
  const totals: RunTotals = {
    selected: users.length,
    delivered: 0,
    skipped: 0,
    failed: 0,
    would_deliver: 0,
  };
  for (const user of users) totals[user.status]++;
  return totals;
}

function describe(reason: unknown): string {
  if (reason instanceof DeadlineExceededError) return "deadline exceeded";
  if (reason instanceof Error) return reason.message;
  return String(reason);
}

async function dryRunUser(
  deps: DailySummaryRunDeps,
  ledger: DailySummaryLedger,
  { user, day }: DueUser,
): Promise<UserOutcome> {
  const base = { uid: user.uid, date: day.dateStr, time_zone: day.timeZone };
  const state = await ledger.peek(user.uid, day.dateStr);
  if (state === "locked") {
    return { ...base, status: "skipped", reason: "locked" };
  }
  if (state === "already_done") {
    const record = await ledger.record(user.uid, day.dateStr);
    return {
      ...base,
      status: "skipped",
      reason: record?.state === "delivered"
        ? "already_sent"
        : "already_attempted",
    };
  }
  const plan = summarizableDay(
    await listConversationsStartedIn(deps.kv, user.uid, day),
  );
  if (plan.status === "skip") {
    return { ...base, status: "skipped", reason: plan.reason };
  }
  if (!hasDeliveryTarget(deps, user)) {
    return { ...base, status: "skipped", reason: "no_delivery_target" };
  }
  return {
    ...base,
    status: "would_deliver",
    conversations: plan.conversations.length,
  };
}

async function runUser(
  deps: DailySummaryRunDeps,
  run: { ledger: DailySummaryLedger; runId: string },
  { user: { user, day }, signal }: { user: DueUser; signal: AbortSignal },
): Promise<UserOutcome> {
  const base = { uid: user.uid, date: day.dateStr, time_zone: day.timeZone };
  const { summarizer, push, webhook } = deps.notifications;
  const claim = await run.ledger.claim(user.uid, day.dateStr, run.runId);
  if (claim.status === "locked") {
    return { ...base, status: "skipped", reason: "locked" };
  }
  if (claim.status === "already_done") {
    return {
      ...base,
      status: "skipped",
      reason: claim.record.state === "delivered"
        ? "already_sent"
        : "already_attempted",
    };
  }
  const lock = claim.lock;
  let begun = false;
  try {
    if (!hasDeliveryTarget(deps, user)) {
      return { ...base, status: "skipped", reason: "no_delivery_target" };
    }
    const plan = summarizableDay(
      await listConversationsStartedIn(deps.kv, user.uid, day),
    );
    if (plan.status === "skip") {
      return { ...base, status: "skipped", reason: plan.reason };
    }
    signal.throwIfAborted();
    const content = await summarizer.summarize({
      uid: user.uid,
      dateStr: day.dateStr,
      timeZone: day.timeZone,
      conversations: plan.conversations,
    }, { signal });
    signal.throwIfAborted();

    const summaryId = crypto.randomUUID();
    const message = buildSummaryMessage(content, summaryId);
    const record: DailySummaryRecord = {
      summary_id: summaryId,
      uid: user.uid,
      date: day.dateStr,
      state: "sending",
      title: message.title,
      body: message.body,
      content,
      run_id: run.runId,
      created_at: new Date(deps.clock.now()).toISOString(),
    };
    if (!(await run.ledger.begin(lock, record))) {
      return { ...base, status: "skipped", reason: "locked" };
    }
    begun = true;
    const delivery: DailySummaryDelivery = {
      uid: user.uid,
      dateStr: day.dateStr,
      summaryId,
      fcmTokens: user.fcm_tokens,
      webhookUrl: user.webhook_url,
      title: message.title,
      body: message.body,
      data: message.data,
      summary: content,
    };
    // The webhook goes first and the push does not wait for it (reference
    // section 8); its failure is reported but does not fail the user.
    const webhookSent: Promise<"sent" | "failed" | "none"> =
      webhook && user.webhook_url
        ? webhook.send(delivery, { signal }).then(() => "sent", (error) => {
          deps.log({
            time: new Date(deps.clock.now()).toISOString(),
            level: "warn",
            msg: "daily summary webhook failed",
            uid: user.uid,
            error: describe(error),
          });
          return "failed";
        })
        : Promise.resolve("none");
    let pushed = { sent: 0, failed: 0 };
    try {
      if (user.fcm_tokens.length > 0) {
        pushed = await push.send(delivery, { signal });
      }
    } catch (error) {
      const webhookOutcome = await webhookSent;
      await run.ledger.finish(lock, {
        ...record,
        state: "failed",
        error: describe(signal.aborted ? signal.reason : error),
        webhook: webhookOutcome,
        finished_at: new Date(deps.clock.now()).toISOString(),
      });
      throw error;
    }
    const webhookOutcome = await webhookSent;
    if (user.fcm_tokens.length === 0 && webhookOutcome !== "sent") {
      await run.ledger.finish(lock, {
        ...record,
        state: "failed",
        error: "webhook failed and the user has no FCM tokens",
        webhook: webhookOutcome,
        finished_at: new Date(deps.clock.now()).toISOString(),
      });
      throw new Error(
        `Cannot deliver the summary of "${user.uid}": the webhook failed and there are no FCM tokens`,
      );
    }
    await run.ledger.finish(lock, {
      ...record,
      state: "delivered",
      push: pushed,
      webhook: webhookOutcome,
      finished_at: new Date(deps.clock.now()).toISOString(),
    });
    return {
      ...base,
      status: "delivered",
      summary_id: summaryId,
      push: pushed,
      webhook: webhookOutcome,
    };
  } finally {
    if (!begun) await run.ledger.release(lock);
  }
}

/** A push token, or a webhook while webhooks are turned on. */
function hasDeliveryTarget(
  deps: DailySummaryRunDeps,
  user: { fcm_tokens: readonly string[]; webhook_url: string | null },
): boolean {
  return user.fcm_tokens.length > 0 ||
    (user.webhook_url !== null && deps.notifications.webhook !== null);
}
