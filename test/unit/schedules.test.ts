// The schedules' contract: which crons and time zones pass, why others do not, and when the next tick falls.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CreateScheduleSchema, cronProblem, isTimezone, nextTick, UpdateScheduleSchema } from "../../lib/schedules";

test("5 fields, 6 with seconds and nicknames pass; 7 fields, bad values and crons that never match say why", () => {
  for (const cron of ["*/5 * * * *", "0 9 * * 1-5", "*/10 * * * * *", "@hourly"]) assert.equal(cronProblem(cron), undefined, cron);
  assert.match(cronProblem("0 0 0 1 1 * 2030")!, /requires exactly 5 or 6 parts/);
  assert.match(cronProblem("61 * * * *")!, /Invalid value for minute: 61\); use 5 fields/);
  assert.match(cronProblem("0 0 30 2 *")!, /never matches a date to come/);
});

test("the next tick is strictly after the given instant, in the schedule's time zone", () => {
  const at = Date.parse("2026-01-15T10:00:00.000Z");
  assert.equal(nextTick("* * * * * *", "UTC", at), at + 1000);
  assert.equal(nextTick("* * * * * *", "UTC", at + 400), at + 1000);
  assert.equal(nextTick("30 2 * * *", "UTC", at), Date.parse("2026-01-16T02:30:00.000Z"));
  // 02:30 in Paris is 01:30 UTC in winter.
  assert.equal(nextTick("30 2 * * *", "Europe/Paris", at), Date.parse("2026-01-16T01:30:00.000Z"));
  assert.equal(isTimezone("America/New_York"), true);
  assert.equal(isTimezone("Mars/Olympus"), false);
});

test("a new schedule needs a name, cron and type; a change may not rename it nor add unknown fields", () => {
  assert.equal(CreateScheduleSchema.safeParse({ name: "a", cron: "* * * * *", type: "echo" }).success, true);
  assert.equal(CreateScheduleSchema.safeParse({ cron: "* * * * *", type: "echo" }).success, false);
  assert.equal(CreateScheduleSchema.safeParse({ name: "-a", cron: "* * * * *", type: "echo" }).success, false);
  assert.equal(UpdateScheduleSchema.safeParse({ enabled: false }).success, true);
  assert.equal(UpdateScheduleSchema.safeParse({ name: "b" }).success, false);
  assert.equal(UpdateScheduleSchema.safeParse({ timezone: "Nowhere/Town" }).success, false);
});
