/**
 * Time-zone arithmetic for the daily summary (reference section 8): the
 * local hour of a zone at an instant, zones grouped by that hour, and the
 * local day a summary covers, converted to a UTC window.
 *
 * Everything goes through `Intl.DateTimeFormat`, so the zone database is the
 * runtime's (ICU); no offsets are hard-coded.
 *
 * @module
 */

/**
 * From this local hour on, the summary covers today; before it, yesterday
 * (reference section 8, "Which day").
 */
export const SUMMARY_TODAY_FROM_HOUR = 12;

/** The zone used when a user's zone is missing or invalid (reference section 8). */
export const FALLBACK_TIME_ZONE = "UTC";

/** A wall-clock reading in some zone; `month` is 1-12. */
export interface LocalDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The local day a summary covers and its UTC window `[start, end)`. */
export interface SummaryDay {
  /** The zone the day was computed in (the fallback when the user's was unusable). */
  timeZone: string;
  /** `YYYY-MM-DD` of the local day. */
  dateStr: string;
  /** The first instant of the local day. */
  start: Date;
  /**
   * The first instant of the next local day, excluded. The reference's
   * inclusive end 23:59:59.999999 is the same set of instants at the
   * millisecond precision of `Date`.
   */
  end: Date;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/**
 * Whether `name` is a time zone name the runtime knows (`Asia/Kolkata`,
 * `UTC`). Offsets such as `+05:30` are refused: they have no daylight-saving
 * rules, so a user who picks one would drift by an hour twice a year.
 */
export function isValidTimeZone(name: string): boolean {
  if (name.trim() === "" || /^[+-]/.test(name.trim())) return false;
  try {
    formatterFor(name);
    return true;
  } catch {
    return false;
  }
}

/** `name` when it is a valid zone, else {@linkcode FALLBACK_TIME_ZONE}. */
export function resolveTimeZone(name: string | null | undefined): string {
  return typeof name === "string" && isValidTimeZone(name)
    ? name
    : FALLBACK_TIME_ZONE;
}

/**
 * The wall-clock reading of `timeZone` at `at`.
 *
 * @example
 * ```ts
 * import { localDateTime } from "./time_zones.ts";
 * localDateTime("Asia/Kolkata", new Date("2026-05-01T14:30:00Z")).hour; // 20
 * ```
 */
export function localDateTime(timeZone: string, at: Date): LocalDateTime {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(at)) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour: parts.hour,
    minute: parts.minute,
    second: parts.second,
  };
}

/**
 * Groups `zones` by their local hour at `at`, as the original's hourly job
 * does before it looks users up (reference section 8). A +5:30 zone lands in
 * the group of its current hour, so it is picked at :30 local time.
 *
 * @returns local hour (0-23) to the zones at that hour, in input order
 */
export function groupZonesByLocalHour(
  zones: Iterable<string>,
  at: Date,
): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const zone of new Set(zones)) {
    const hour = localDateTime(zone, at).hour;
    const group = groups.get(hour);
    if (group) group.push(zone);
    else groups.set(hour, [zone]);
  }
  return groups;
}

/**
 * The local day a summary made at `at` covers: before 12:00 local the
 * previous day, from 12:00 on today (reference section 8). An unusable zone
 * falls back to UTC.
 */
export function summaryDayFor(
  timeZone: string | null | undefined,
  at: Date,
): SummaryDay {
  const zone = resolveTimeZone(timeZone);
  const local = localDateTime(zone, at);
  const dayShift = local.hour < SUMMARY_TODAY_FROM_HOUR ? -1 : 0;
  const day = new Date(
    Date.UTC(local.year, local.month - 1, local.day + dayShift),
  );
  const next = new Date(
    Date.UTC(local.year, local.month - 1, local.day + dayShift + 1),
  );
  return {
    timeZone: zone,
    dateStr: day.toISOString().slice(0, 10),
    start: new Date(startOfLocalDay(zone, day)),
    end: new Date(startOfLocalDay(zone, next)),
  };
}

/** Milliseconds by which `timeZone`'s wall clock is ahead of UTC at `ms`. */
function offsetAt(timeZone: string, ms: number): number {
  const l = localDateTime(timeZone, new Date(ms));
  const wall = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
  return wall - Math.floor(ms / 1000) * 1000;
}

/**
 * The first instant whose local date in `timeZone` is the UTC date of `day`.
 * Where a daylight-saving jump skips local midnight, that is the instant of
 * the jump, so both offsets around it are tried and the earliest fitting one
 * wins.
 */
function startOfLocalDay(timeZone: string, day: Date): number {
  const wall = day.getTime();
  const first = wall - offsetAt(timeZone, wall);
  const candidates = [first, wall - offsetAt(timeZone, first)]
    .filter((ms) => sameLocalDate(timeZone, ms, day))
    .sort((a, b) => a - b);
  return candidates[0] ?? first;
}

function sameLocalDate(timeZone: string, ms: number, day: Date): boolean {
  const l = localDateTime(timeZone, new Date(ms));
  return l.year === day.getUTCFullYear() && l.month === day.getUTCMonth() + 1 &&
    l.day === day.getUTCDate();
}
