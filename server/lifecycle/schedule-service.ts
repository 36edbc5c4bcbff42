// Operators' changes to recurring schedules: checked as a submission is (cron, type, payload), audited, and
// announced to every tab; and the schedules' view with their next and last runs.
import { CreateScheduleSchema, cronProblem, MAX_SCHEDULES, nextTick, UpdateScheduleSchema, type Schedule, type ScheduleList, type ScheduleView } from "../../lib/schedules";
import { describeZodError } from "../../lib/zod-message";
import type { AuditLog } from "../audit/audit-log";
import { conflict, invalidInput, notFound } from "../errors";
import type { LiveEvents } from "../live-events";
import { redisCall } from "../redis/connect";
import type { ScheduleState, ScheduleStore } from "../store/schedules";
import type { TaskRoutes } from "../store/task-routes";
import { assertOperator, type Actor } from "./actor";

const USAGE = 'Send {"name", "cron", "type", "payload"?, "timezone"?, "enabled"?, "catchUp"?, "priority"?}.';
const NOTHING_CHANGED = "nothing was changed";

export interface ScheduleServiceDeps {
  store: ScheduleStore;
  /** Checks a type and its payload as a submission does. */
  routes: Pick<TaskRoutes, "forSubmission">;
  /** The shared clock (Redis TIME), ms. */
  now: () => Promise<number>;
  audit: AuditLog;
  live: LiveEvents;
}

export class ScheduleService {
  constructor(private readonly deps: ScheduleServiceDeps) {}

  async list(): Promise<ScheduleList> {
    const [states, now] = await redisCall(() => Promise.all([this.deps.store.all(), this.deps.now()]));
    return { schedules: states.map((s) => viewOf(s, now)) };
  }

  async get(name: string): Promise<ScheduleView> {
    const [state, now] = await redisCall(() => Promise.all([this.deps.store.get(name), this.deps.now()]));
    if (!state) throw unknownSchedule(name);
    return viewOf(state, now);
  }

  async create(input: unknown, actor: Actor): Promise<ScheduleView> {
    assertOperator(actor, "create schedules");
    const parsed = CreateScheduleSchema.safeParse(input);
    if (!parsed.success) throw invalidInput(`Invalid schedule: ${describeZodError(parsed.error)}. ${USAGE}`);
    const { name, cron, type, payload = {}, timezone = "UTC", enabled = true, catchUp = true, priority = 0 } = parsed.data;
    const now = await redisCall(() => this.deps.now(), NOTHING_CHANGED);
    const at = new Date(now).toISOString();
    const schedule: Schedule = { name, cron, type, payload, timezone, enabled, catchUp, priority, createdAt: at, updatedAt: at, by: actor.principal.name };
    await this.check(schedule);
    // Its first tick is the first after now: a new schedule has nothing to catch up.
    const created = await redisCall(() => this.deps.store.create(schedule, now), NOTHING_CHANGED);
    if (created === "taken") throw conflict(`A schedule named "${name}" exists already; change it with PUT /api/schedules/${encodeURIComponent(name)}, or choose another name.`);
    if (created === "full") throw conflict(`There are ${MAX_SCHEDULES} schedules, the most Taskcast runs; delete one first.`);
    this.changed(actor, "schedule.create", name, `${describe(schedule)}${enabled ? "" : ", disabled"}`);
    return viewOf({ schedule, raw: "", lastTick: now, lastRun: null }, now);
  }

  async update(name: string, input: unknown, actor: Actor): Promise<ScheduleView> {
    assertOperator(actor, "change schedules");
    const parsed = UpdateScheduleSchema.safeParse(input);
    if (!parsed.success) throw invalidInput(`Invalid schedule change: ${describeZodError(parsed.error)}. Send the fields to change, e.g. {"enabled": false} or {"cron": "*/5 * * * *"}.`);
    const change = parsed.data;
    // Compare-and-set on the stored definition: a concurrent change (or a tick's claim) makes us read again.
    for (let round = 0; round < 10; round++) {
      const [state, now] = await redisCall(() => Promise.all([this.deps.store.get(name), this.deps.now()]), NOTHING_CHANGED);
      if (!state) throw unknownSchedule(name);
      const before = state.schedule;
      const next: Schedule = { ...before, ...change, payload: change.payload ?? before.payload, updatedAt: new Date(now).toISOString(), by: actor.principal.name };
      await this.check(next);
      // A new cron or time zone, or a schedule enabled again, starts from now: the ticks of the old cron, and
      // those while it was disabled, are not missed ones.
      const restart = next.cron !== before.cron || next.timezone !== before.timezone || (next.enabled && !before.enabled);
      const outcome = await redisCall(() => this.deps.store.replace(state.raw, next, restart ? now : undefined), NOTHING_CHANGED);
      if (outcome === "gone") throw unknownSchedule(name);
      if (outcome === "changed") continue;
      this.changed(actor, "schedule.update", name, changes(before, next));
      return viewOf({ ...state, schedule: next, lastTick: restart ? now : state.lastTick }, now);
    }
    throw conflict(`The schedule "${name}" kept changing while this change was applied; try again.`);
  }

  async delete(name: string, actor: Actor): Promise<void> {
    assertOperator(actor, "delete schedules");
    if (!(await redisCall(() => this.deps.store.delete(name), NOTHING_CHANGED))) throw unknownSchedule(name);
    this.changed(actor, "schedule.delete", name, null);
  }

  /** The checks a submission of the schedule's task faces now (type, payload), and its cron in its time zone. */
  private async check(schedule: Schedule): Promise<void> {
    const problem = cronProblem(schedule.cron, schedule.timezone);
    if (problem) throw invalidInput(`Invalid schedule: ${problem}.`);
    const route = await redisCall(() => this.deps.routes.forSubmission(schedule.type, schedule.payload), NOTHING_CHANGED);
    if (!route.ok) throw invalidInput(`Invalid schedule: ${route.error}`);
  }

  private changed(actor: Actor, action: "schedule.create" | "schedule.update" | "schedule.delete", name: string, detail: string | null): void {
    void this.deps.audit.record({ action, actor: actor.principal, target: name, detail, ip: actor.ip, via: actor.via });
    this.deps.live.emit("schedules:changed");
  }
}

const unknownSchedule = (name: string) => notFound(`No schedule named "${name.slice(0, 100)}"; GET /api/schedules lists them.`);

const describe = (s: Schedule) => `cron "${s.cron}"${s.timezone === "UTC" ? "" : ` (${s.timezone})`}, type ${s.type}`;

/** The audit entry's summary of a change: the fields that changed. */
function changes(before: Schedule, after: Schedule): string {
  const fields = (["cron", "timezone", "type", "payload", "priority", "catchUp", "enabled"] as const).filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]));
  if (fields.length === 0) return "nothing changed";
  return fields.map((f) => (f === "payload" ? "payload" : `${f} ${JSON.stringify(after[f])}`)).join(", ");
}

function viewOf(state: ScheduleState, now: number): ScheduleView {
  const { schedule, lastRun } = state;
  // The tick after the last one claimed is what the scheduler asks too (answered from nextTick's memo); only an
  // overdue one needs the tick after now.
  const afterLast = schedule.enabled ? nextTick(schedule.cron, schedule.timezone, state.lastTick) : null;
  const next = afterLast !== null && afterLast <= now ? nextTick(schedule.cron, schedule.timezone, now) : afterLast;
  return {
    ...schedule,
    nextRunAt: next === null ? null : new Date(next).toISOString(),
    lastRunAt: lastRun ? new Date(lastRun.tick).toISOString() : null,
    lastTaskId: lastRun && "taskId" in lastRun ? lastRun.taskId : null,
    lastError: lastRun && "error" in lastRun ? lastRun.error : null,
  };
}
