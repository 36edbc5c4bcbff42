// Recurring schedules: their HTTP bodies, their stored shape and view, and the cron rules, shared by the web
// node, the dashboard and the tests. croner is pure JavaScript, so the form checks a cron as the server does.
import { Cron } from "croner";
import { PayloadSchema, PrioritySchema } from "./contract";
import { z } from "./zod";

/** How far back missed ticks are caught up (a schedule with `catchUp: false` skips them). */
export const CATCH_UP_WINDOW_MS = 60 * 60 * 1000;
/** Most schedules at once: every web node reads them all 4 times a second. */
export const MAX_SCHEDULES = 1000;

export const ScheduleNameSchema = z
  .string({ error: "name must be a string" })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "name must be 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit");

/** Why a cron expression is refused (undefined: it is fine). 5 fields, or 6 with seconds first; nicknames such as @hourly too. */
export function cronProblem(cron: string, timezone?: string): string | undefined {
  try {
    const job = new Cron(cron, { paused: true, mode: "5-or-6-parts", timezone });
    const next = job.nextRun();
    job.stop();
    if (!next) return `cron "${cron}" never matches a date to come`;
    return undefined;
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, "").replace(/\.$/, "");
    return `cron "${cron}" is not valid (${why}); use 5 fields (minute hour day-of-month month day-of-week, e.g. "*/5 * * * *") or 6 with seconds first (e.g. "*/10 * * * * *")`;
  }
}

/** Whether `timezone` is an IANA time zone this runtime knows. */
export function isTimezone(timezone: string): boolean {
  try {
    return new Intl.DateTimeFormat("en", { timeZone: timezone }).resolvedOptions().timeZone.length > 0;
  } catch {
    return false;
  }
}

/**
 * Parsed crons by cron and time zone: every web node asks each schedule's next tick 4 times a second, and parsing
 * is most of that cost. Paused, never started, so they hold no timer. Emptied when it outgrows the schedules.
 */
const crons = new Map<string, Cron>();
/** Answers of nextTick by cron, time zone and instant: a schedule asks the same until its tick fires. */
const answers = new Map<string, number | null>();

/** The first tick of `cron` strictly after `afterMs` (ms since the epoch), or null if it never fires again. */
export function nextTick(cron: string, timezone: string | undefined, afterMs: number): number | null {
  const id = `${timezone ?? ""}\n${cron}`;
  const question = `${afterMs}\n${id}`;
  const known = answers.get(question);
  if (known !== undefined) return known;
  let job = crons.get(id);
  if (!job) {
    job = new Cron(cron, { paused: true, mode: "5-or-6-parts", timezone });
    if (crons.size >= 2 * MAX_SCHEDULES) crons.clear();
    crons.set(id, job);
  }
  const next = job.nextRun(new Date(afterMs))?.getTime() ?? null;
  if (answers.size >= 4 * MAX_SCHEDULES) answers.clear();
  answers.set(question, next);
  return next;
}

const TimezoneSchema = z
  .string({ error: "timezone must be a string" })
  .max(100)
  .refine(isTimezone, { error: (issue) => `timezone ${JSON.stringify(issue.input)} is not an IANA time zone; use e.g. "UTC", "Europe/Paris" or "America/New_York"` });

const CronSchema = z.string({ error: "cron must be a string" }).trim().min(1, "cron must not be empty").max(200, "cron must be at most 200 characters");

/** The fields of a schedule an operator sets (besides its name). */
const ScheduleFieldsSchema = z.strictObject({
  cron: CronSchema,
  type: z.string({ error: "type must be a string naming a task type" }).min(1, "type must not be empty"),
  /** @defaultValue {} */
  payload: PayloadSchema.optional(),
  /** IANA time zone the cron is read in. @defaultValue "UTC" */
  timezone: TimezoneSchema.optional(),
  /** @defaultValue true */
  enabled: z.boolean({ error: "enabled must be true or false" }).optional(),
  /** Run the ticks missed in the last hour (each once, oldest first) when the schedule comes back. @defaultValue true */
  catchUp: z.boolean({ error: "catchUp must be true or false" }).optional(),
  /** @defaultValue 0 */
  priority: PrioritySchema.optional(),
});

/** Body of `POST /api/schedules`. */
export const CreateScheduleSchema = ScheduleFieldsSchema.extend({ name: ScheduleNameSchema });
export type CreateSchedule = z.infer<typeof CreateScheduleSchema>;

/** Body of `PUT /api/schedules/:name`: the fields to change (those absent keep their value). */
export const UpdateScheduleSchema = ScheduleFieldsSchema.partial();
export type UpdateSchedule = z.infer<typeof UpdateScheduleSchema>;

/** A schedule as stored in Redis (every default applied). */
export const ScheduleSchema = z.object({
  name: z.string(),
  cron: z.string(),
  type: z.string(),
  payload: PayloadSchema,
  timezone: z.string(),
  enabled: z.boolean(),
  catchUp: z.boolean(),
  priority: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Who created or last changed it. */
  by: z.string(),
});
export type Schedule = z.infer<typeof ScheduleSchema>;

/** A schedule with its runs, as `GET /api/schedules` and the `schedules:update` event show it. */
export const ScheduleViewSchema = ScheduleSchema.extend({
  /** The next tick (ISO time); null when disabled or the cron never fires again. */
  nextRunAt: z.string().nullable(),
  /** The tick (ISO time) of the last run that was queued; null before the first. */
  lastRunAt: z.string().nullable(),
  /** The task the last run queued. */
  lastTaskId: z.string().nullable(),
  /** Why the last tick queued no task (e.g. the type is no longer known); null once a tick queues one again. */
  lastError: z.string().nullable(),
});
export type ScheduleView = z.infer<typeof ScheduleViewSchema>;

/** `GET /api/schedules` and the `schedules:update` event: every schedule, by name. */
export const ScheduleListSchema = z.object({ schedules: z.array(ScheduleViewSchema) });
export type ScheduleList = z.infer<typeof ScheduleListSchema>;
