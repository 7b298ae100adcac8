/**
 * Which users get their daily summary at an instant (reference section 8):
 * zones are grouped by their current local hour, and a user is due when the
 * local hour of their zone equals their preferred summary hour.
 *
 * @module
 */
import type {
  NotificationUser,
  NotificationUsers,
} from "./notification_users.ts";
import {
  groupZonesByLocalHour,
  resolveTimeZone,
  type SummaryDay,
  summaryDayFor,
} from "./time_zones.ts";

/** Hours of the day a preferred summary hour can take. */
const HOURS_PER_DAY = 24;

/** A user due now, with the local day their summary covers. */
export interface DueUser {
  user: NotificationUser;
  day: SummaryDay;
}

/**
 * The users due at `at`, ordered by preferred hour, then uid.
 *
 * The original queries users by `(zones, hour)` for each hour group. Here the
 * preferred-hour index is read for every hour and filtered by each zone's
 * local hour: the zone names users stored need not match the runtime's
 * canonical list (`Asia/Kolkata` is `Asia/Calcutta` to ICU), and filtering
 * the stored names avoids that mismatch. The cost is one index scan of all
 * notification users per run.
 */
export async function selectDueUsers(
  users: NotificationUsers,
  at: Date,
): Promise<DueUser[]> {
  const candidates: NotificationUser[] = [];
  for (let hour = 0; hour < HOURS_PER_DAY; hour++) {
    for await (const user of users.listByPreferredHour(hour)) {
      candidates.push(user);
    }
  }
  const groups = groupZonesByLocalHour(
    candidates.map((user) => resolveTimeZone(user.time_zone)),
    at,
  );
  const due: DueUser[] = [];
  for (const user of candidates) {
    const zone = resolveTimeZone(user.time_zone);
    if (groups.get(user.daily_summary_hour)?.includes(zone)) {
      due.push({ user, day: summaryDayFor(zone, at) });
    }
  }
  return due;
}
