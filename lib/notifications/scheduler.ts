/**
 * The hourly trigger of the daily summary: `Deno.cron` at the top of every
 * UTC hour (reference section 8), where the runtime has it.
 *
 * @module
 */
import {
  type DailySummaryRunDeps,
  runDailySummaries,
} from "./daily_summary_run.ts";

/** The original's schedule: the top of every UTC hour (reference section 8). */
export const DAILY_SUMMARY_SCHEDULE = "0 * * * *";
/** The cron job's name, unique per project on Deno Deploy. */
export const DAILY_SUMMARY_CRON_NAME = "daily-summary";

/** The subset of `Deno.cron` used here, injectable for tests. */
export type CronRegistrar = (
  name: string,
  schedule: string,
  options: { signal?: AbortSignal },
  handler: () => Promise<void>,
) => Promise<void>;

/** Options of {@linkcode scheduleDailySummaries}. */
export interface ScheduleOptions {
  /** Default `Deno.cron` when it exists. */
  cron?: CronRegistrar;
  /** Stops the schedule; default `deps.shutdown`. */
  signal?: AbortSignal;
}

/**
 * Registers the hourly run. Returns a function that stops it; where no
 * cron is available (no `--unstable-cron`), registers nothing and returns a
 * no-op. A run's failure is logged, never thrown into the cron runtime,
 * because each user's failure is already in the report.
 *
 * Deno Deploy discovers cron jobs when the module graph loads, so call this
 * during start-up, not later.
 *
 * @example
 * ```ts ignore
 * const stop = scheduleDailySummaries({ kv, clock, log, notifications, shutdown });
 * ```
 */
export function scheduleDailySummaries(
  deps: DailySummaryRunDeps & { shutdown?: AbortSignal },
  options: ScheduleOptions = {},
): () => void {
  const cron = options.cron ?? defaultCron();
  if (!cron) return () => {};
  const controller = new AbortController();
  const outer = options.signal ?? deps.shutdown;
  outer?.addEventListener("abort", () => controller.abort(), { once: true });
  const done = cron(
    DAILY_SUMMARY_CRON_NAME,
    DAILY_SUMMARY_SCHEDULE,
    { signal: controller.signal },
    async function dailySummaryCron() {
      try {
        await runDailySummaries(deps, { signal: controller.signal });
      } catch (error) {
        deps.log({
          time: new Date(deps.clock.now()).toISOString(),
          level: "error",
          msg: "daily summary run failed",
          error: error instanceof Error
            ? error.stack ?? error.message
            : String(error),
        });
      }
    },
  );
  done.catch(() => {/* rejected only when the signal aborts */});
  return () => controller.abort();
}

function defaultCron(): CronRegistrar | undefined {
  const cron = (Deno as { cron?: unknown }).cron;
  if (typeof cron !== "function") return undefined;
  return (name, schedule, options, handler) =>
    (cron as (
      n: string,
      s: string,
      o: { signal?: AbortSignal },
      h: () => Promise<void>,
    ) => Promise<void>)(name, schedule, options, handler);
}
