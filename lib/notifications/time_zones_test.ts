import { assertEquals } from "@std/assert";
import {
  groupZonesByLocalHour,
  isValidTimeZone,
  localDateTime,
  summaryDayFor,
} from "./time_zones.ts";

const ZONES = ["Asia/Kolkata", "Asia/Kathmandu", "UTC", "America/New_York"];

Deno.test("groupZonesByLocalHour() puts +5:30 and +5:45 zones in their current local hour", () => {
  // 14:30Z is 20:00 in Kolkata (+5:30) and 20:15 in Kathmandu (+5:45).
  const at1430 = groupZonesByLocalHour(ZONES, new Date("2026-05-01T14:30:00Z"));
  assertEquals(at1430.get(20), ["Asia/Kolkata", "Asia/Kathmandu"]);
  assertEquals(at1430.get(14), ["UTC"]);
  assertEquals(at1430.get(10), ["America/New_York"]);

  // 14:15Z is 20:00 in Kathmandu but 19:45 in Kolkata.
  const at1415 = groupZonesByLocalHour(ZONES, new Date("2026-05-01T14:15:00Z"));
  assertEquals(at1415.get(20), ["Asia/Kathmandu"]);
  assertEquals(at1415.get(19), ["Asia/Kolkata"]);

  // 14:00Z is 19:30 in Kolkata and 19:45 in Kathmandu: neither is at 20.
  const at1400 = groupZonesByLocalHour(ZONES, new Date("2026-05-01T14:00:00Z"));
  assertEquals(at1400.get(19), ["Asia/Kolkata", "Asia/Kathmandu"]);
  assertEquals(at1400.get(20) ?? [], []);
});

Deno.test("summaryDayFor() summarizes the previous day before 12:00 local in +5:30", () => {
  // 06:29Z is 11:59 in Kolkata.
  const before = summaryDayFor(
    "Asia/Kolkata",
    new Date("2026-05-01T06:29:00Z"),
  );
  assertEquals(before.dateStr, "2026-04-30");
  assertEquals(before.start.toISOString(), "2026-04-29T18:30:00.000Z");
  assertEquals(before.end.toISOString(), "2026-04-30T18:30:00.000Z");
  // 06:30Z is 12:00 in Kolkata.
  const after = summaryDayFor("Asia/Kolkata", new Date("2026-05-01T06:30:00Z"));
  assertEquals(after.dateStr, "2026-05-01");
  assertEquals(after.start.toISOString(), "2026-04-30T18:30:00.000Z");
  assertEquals(after.end.toISOString(), "2026-05-01T18:30:00.000Z");
});

Deno.test("summaryDayFor() summarizes the previous day before 12:00 local in +5:45", () => {
  const before = summaryDayFor(
    "Asia/Kathmandu",
    new Date("2026-05-01T06:14:59Z"),
  );
  assertEquals(before.dateStr, "2026-04-30");
  assertEquals(before.start.toISOString(), "2026-04-29T18:15:00.000Z");
  const after = summaryDayFor(
    "Asia/Kathmandu",
    new Date("2026-05-01T06:15:00Z"),
  );
  assertEquals(after.dateStr, "2026-05-01");
  assertEquals(after.start.toISOString(), "2026-04-30T18:15:00.000Z");
  assertEquals(after.end.toISOString(), "2026-05-01T18:15:00.000Z");
});

Deno.test("summaryDayFor() uses the local date, not the UTC date, west of UTC", () => {
  // 2026-05-02T02:00Z is 22:00 on May 1 in New York (EDT, -4).
  const day = summaryDayFor(
    "America/New_York",
    new Date("2026-05-02T02:00:00Z"),
  );
  assertEquals(day.dateStr, "2026-05-01");
  assertEquals(day.start.toISOString(), "2026-05-01T04:00:00.000Z");
  assertEquals(day.end.toISOString(), "2026-05-02T04:00:00.000Z");
});

Deno.test("summaryDayFor() gives a 23-hour window on a daylight-saving day", () => {
  // New York springs forward on 2026-03-08.
  const day = summaryDayFor(
    "America/New_York",
    new Date("2026-03-08T20:00:00Z"),
  );
  assertEquals(day.dateStr, "2026-03-08");
  assertEquals(day.start.toISOString(), "2026-03-08T05:00:00.000Z");
  assertEquals(day.end.toISOString(), "2026-03-09T04:00:00.000Z");
});

Deno.test("summaryDayFor() starts the day at the jump where midnight is skipped", () => {
  // Cuba moves from 00:00 to 01:00 (-5 to -4) on 2026-03-08.
  const day = summaryDayFor("America/Havana", new Date("2026-03-08T20:00:00Z"));
  assertEquals(day.start.toISOString(), "2026-03-08T05:00:00.000Z");
  assertEquals(localDateTime("America/Havana", day.start).hour, 1);
});

Deno.test("summaryDayFor() falls back to UTC for a missing or invalid zone", () => {
  for (const zone of [undefined, null, "", "Mars/Olympus", "+05:30"]) {
    const day = summaryDayFor(zone, new Date("2026-05-01T11:00:00Z"));
    assertEquals(day.timeZone, "UTC");
    assertEquals(day.dateStr, "2026-04-30");
    assertEquals(day.start.toISOString(), "2026-04-30T00:00:00.000Z");
  }
});

Deno.test("isValidTimeZone() accepts IANA names and refuses offsets and unknown names", () => {
  assertEquals(isValidTimeZone("Asia/Kolkata"), true);
  assertEquals(isValidTimeZone("Asia/Calcutta"), true);
  assertEquals(isValidTimeZone("UTC"), true);
  assertEquals(isValidTimeZone("Mars/Olympus"), false);
  assertEquals(isValidTimeZone("+05:30"), false);
  assertEquals(isValidTimeZone(" "), false);
});
