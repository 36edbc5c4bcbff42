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

test("a check with nothing due does little work: definitions parsed once, crons parsed once, answers remembered", async () => {
  const { ScheduleStore } = await import("../../server/store/schedules");
  const def = (name: string, cron: string) => JSON.stringify({ name, cron, type: "echo", payload: {}, timezone: "Europe/Paris", enabled: true, catchUp: true, priority: 0, createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-01T00:00:00.000Z", by: "ci" });
  const defs: Record<string, string> = { a: def("a", "*/5 * * * *"), b: def("b", "0 3 * * *") };
  const redis = { hgetall: async (key: string) => (key === "schedules" ? { ...defs } : {}) };
  const store = new ScheduleStore(redis as never, { schedules: "schedules", scheduleTicks: "ticks", scheduleRuns: "runs" } as never);
  const [a1, b1] = await store.all();
  const [a2, b2] = await store.all();
  assert.equal(a2.schedule, a1.schedule, "an unchanged definition is not parsed again");
  assert.equal(b2.schedule, b1.schedule);
  assert.ok(Object.isFrozen(a1.schedule), "a shared definition cannot be changed by a reader");
  defs.b = def("b", "0 4 * * *");
  const [, b3] = await store.all();
  assert.notEqual(b3.schedule, b1.schedule, "a changed definition is parsed again");
  assert.equal(b3.schedule.cron, "0 4 * * *");

  // The same question twice: the second answer costs a map lookup, not croner's search (1000 × far below 1 ms).
  const at = Date.parse("2026-03-29T00:10:00.000Z");
  const first = nextTick("30 2 * * *", "Europe/Paris", at);
  const started = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) assert.equal(nextTick("30 2 * * *", "Europe/Paris", at), first);
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 20, "1000 repeated questions answered from memory");
  assert.equal(first, Date.parse("2026-03-29T01:00:00.000Z"), "a time in the skipped hour fires at the next valid time (03:00 CEST)");
});
