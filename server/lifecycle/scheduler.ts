// The recurring schedules' ticks: every web node checks the schedules every CHECK_INTERVAL_MS and queues the
// ticks that are due, through the ordinary submission path, each tick exactly once whatever the number of nodes.
//
// Why claims rather than one node holding a lease: a lease holder that dies leaves the ticks unrun until its
// lease expires and another node notices, so a restart would delay ticks by the lease's length (or skip them).
// Here every node is a ticker at all times. A due tick is claimed by a compare-and-set of the schedule's last
// tick (one Lua script, ScheduleStore.claim): of the nodes that read the same state, one wins. The claim records
// the tick as pending; the winner queues the task, whose id is derived from the schedule and the tick (tickTaskId),
// then settles the tick. If it dies in between, the sweep (any node, PENDING_RETRY_MS later) takes the pending
// tick over: a record with the tick's id exists, so the task was submitted, and the tick is settled as done;
// none does, so it is submitted now (the record's create is atomic "must not exist": two submissions of a tick
// store one record and queue one message). So a tick yields one task, and costs no Idempotency-Key.
//
// A node killed after storing the record and before RabbitMQ took its message leaves its publish to the delayed-task
// mover: the submission marks the task as being published before it stores the record (store/publish-outbox.ts),
// and the mover's sweep publishes the message again if the record still waits for one 15 s later. The sweep here
// finds the record and settles the tick as done; the task runs once its message is published.
// The clock is Redis's (TIME), so nodes whose clocks disagree still agree on which ticks are due.
import { CATCH_UP_WINDOW_MS, nextTick, type Schedule } from "../../lib/schedules";
import { AppError, messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { PendingTick, ScheduleState, ScheduleStore } from "../store/schedules";
import type { TaskStore } from "../store/task-store";
import type { Actor } from "./actor";
import { derivedId, type TaskSubmission } from "./submission";

/** How often each web node looks for due ticks. */
export const CHECK_INTERVAL_MS = 250;
/** A schedule with `catchUp: false` still runs a tick this late; older ones are missed and skipped. */
export const MISSED_AFTER_MS = 5000;
/** A tick pending this long is taken over by the sweep (longer than a submission's wait for RabbitMQ's confirm). */
export const PENDING_RETRY_MS = 10_000;
/** Most ticks one schedule queues in one go (a catch-up of a per-second schedule continues at the next check). */
const MAX_TICKS_PER_CHECK = 100;
/**
 * Most schedules whose ticks one node queues at once. Each waits for RabbitMQ's confirm (up to 5 s), alone: a
 * check starts them and goes on, so one slow submission holds back only its own schedule's later ticks.
 */
const MAX_FIRING = 32;
/** How often each node sweeps the pending ticks, apart from the checks, and how many it retries at once. */
export const SWEEP_INTERVAL_MS = 2000;
const SWEEP_CONCURRENCY = 4;
const MAX_SWEPT_PER_CHECK = 100;

/** Who queues a schedule's tasks: an operator, not audited (like a service's traffic); the audit has who made the schedule. */
const SCHEDULER: Actor = { principal: { kind: "local", name: "scheduler", role: "operator" }, ip: "scheduler", via: "http" };

/** The id of a tick's task: from the schedule (a deleted and re-created one is another) and the tick's time. */
export const tickTaskId = (schedule: Schedule, tick: number) => derivedId(`schedule:${schedule.name}:${schedule.createdAt}:${tick}`);

export interface SchedulerDeps {
  store: ScheduleStore;
  submission: Pick<TaskSubmission, "submit">;
  /** Where a tick's task is looked up: stored means submitted. */
  tasks: Pick<TaskStore, "get">;
  /** The shared clock (Redis TIME), ms. */
  now: () => Promise<number>;
  live: LiveEvents;
  log: Logger;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private sweeping: Promise<void> = Promise.resolve();
  /** The schedules whose due ticks are being queued, by name: a check skips them (their run goes on). */
  private readonly firing = new Map<string, Promise<void>>();
  /** Where the next check starts in the list, so that at MAX_FIRING every schedule gets its turn. */
  private offset = 0;
  private stopped = false;
  private failing = false;

  constructor(private readonly deps: SchedulerDeps) {}

  /** Checks at once, then every `intervalMs` after the previous check ended; sweeps every `sweepMs` on its own. */
  start(intervalMs = CHECK_INTERVAL_MS, sweepMs = SWEEP_INTERVAL_MS): void {
    const loop = () => {
      if (this.stopped) return;
      this.running = this.check().then(
        () => {
          this.failing = false;
        },
        (err: unknown) => this.warn(err),
      );
      void this.running.then(() => {
        if (!this.stopped) this.timer = setTimeout(loop, intervalMs);
      });
    };
    const sweepLoop = () => {
      if (this.stopped) return;
      this.sweeping = this.sweep().then((settled) => {
        if (settled) this.deps.live.emit("schedules:changed");
      }, (err: unknown) => this.warn(err));
      void this.sweeping.then(() => {
        if (!this.stopped) this.sweepTimer = setTimeout(sweepLoop, sweepMs);
      });
    };
    loop();
    this.sweepTimer = setTimeout(sweepLoop, sweepMs);
  }

  /** Stops checking, and waits for the work under way (a tick it claimed but could not queue stays pending for the sweep). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.sweepTimer);
    await Promise.all([this.running, this.sweeping]);
    await Promise.all(this.firing.values());
  }

  /**
   * One check: starts queuing the due ticks of every enabled schedule not already at it, without waiting for
   * them (at most MAX_FIRING schedules at once).
   */
  async check(): Promise<void> {
    // The clock and the schedules in one round trip (issued together, the command client pipelines them): a check
    // runs 4 times a second on every node, mostly finding nothing due.
    const [now, all] = await Promise.all([this.deps.now(), this.deps.store.all()]);
    const states = all.filter((s) => s.schedule.enabled);
    const first = states.length === 0 ? 0 : this.offset++ % states.length;
    for (let i = 0; i < states.length && this.firing.size < MAX_FIRING; i++) {
      const state = states[(first + i) % states.length];
      const { name, cron, timezone } = state.schedule;
      if (this.firing.has(name)) continue;
      const due = nextTick(cron, timezone, state.lastTick);
      if (due === null || due > now) continue;
      const run = this.fireDue(state, now).then(
        (changed) => {
          if (changed) this.deps.live.emit("schedules:changed");
        },
        (err: unknown) => this.warn(err),
      );
      this.firing.set(name, run.finally(() => this.firing.delete(name)));
    }
  }

  private warn(err: unknown): void {
    if (!this.failing) this.deps.log.warn({ err: messageOf(err) }, "could not check the schedules; trying again");
    this.failing = true;
  }

  /** Claims and queues `state`'s due ticks, oldest first; resolves whether any was claimed. */
  private async fireDue(state: ScheduleState, now: number): Promise<boolean> {
    const { store, log } = this.deps;
    let current = state;
    let changed = false;
    for (let i = 0; i < MAX_TICKS_PER_CHECK; i++) {
      const { schedule } = current;
      const due = nextTick(schedule.cron, schedule.timezone, current.lastTick);
      if (due === null || due > now) break;
      const oldest = now - (schedule.catchUp ? CATCH_UP_WINDOW_MS : MISSED_AFTER_MS);
      if (due < oldest) {
        // Ticks missed longer ago than the schedule catches up: move past them without a run.
        if (!(await store.claim(current, oldest - 1, false, now))) break;
        log.info({ schedule: schedule.name, from: new Date(due).toISOString(), to: new Date(oldest - 1).toISOString() }, "skipped missed ticks");
        current = { ...current, lastTick: oldest - 1 };
        changed = true;
        continue;
      }
      if (!(await store.claim(current, due, true, now))) break; // another node has it
      current = { ...current, lastTick: due };
      changed = true;
      if (!(await this.run(schedule, due))) break; // pending: the sweep retries it, and later ticks wait their turn
    }
    return changed;
  }

  /**
   * Queues the task of `schedule`'s tick, unless a record with the tick's id shows it was submitted already, and
   * settles the tick; resolves false if it stays pending (RabbitMQ or Redis did not answer).
   */
  private async run(schedule: Schedule, tick: number): Promise<boolean> {
    const { store, submission, tasks, log } = this.deps;
    const at = new Date(tick).toISOString();
    const taskId = tickTaskId(schedule, tick);
    try {
      const existing = await tasks.get(taskId);
      const { record, replayed } = existing
        ? { record: existing, replayed: true }
        : await submission.submit({ input: { type: schedule.type, payload: schedule.payload, priority: schedule.priority }, taskId, actor: SCHEDULER, schedule: { name: schedule.name, tick: at } });
      await store.settle(schedule.name, { tick, taskId: record.id });
      log.info({ schedule: schedule.name, tick: at, taskId: record.id, replayed }, "schedule ran");
      return true;
    } catch (err) {
      // The schedule's type or payload no longer passes (an outside worker's type gone, its schema changed): this
      // tick never will. The schedule shows why until a tick queues a task again.
      if (err instanceof AppError && err.status >= 400 && err.status < 500) {
        await store.settle(schedule.name, { tick, error: err.message }).catch(() => undefined);
        log.warn({ schedule: schedule.name, tick: at, err: err.message }, "schedule tick refused; no task queued");
        return true;
      }
      log.warn({ schedule: schedule.name, tick: at, err: messageOf(err) }, "schedule tick not queued yet; it stays pending and is retried");
      return false;
    }
  }

  /**
   * Retries ticks left pending over PENDING_RETRY_MS (their node died, or their submission failed),
   * SWEEP_CONCURRENCY at a time; resolves whether any was settled.
   */
  async sweep(): Promise<boolean> {
    const { store } = this.deps;
    const now = await this.deps.now();
    const pending = await store.pendingBefore(now - PENDING_RETRY_MS, MAX_SWEPT_PER_CHECK);
    let settled = false;
    const worker = async () => {
      for (let next = pending.shift(); next; next = pending.shift()) settled = (await this.retry(next, now)) || settled;
    };
    await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, worker));
    return settled;
  }

  /** Takes one pending tick over and queues it (or gives it up past the catch-up window); resolves whether it was settled. */
  private async retry(pending: PendingTick, now: number): Promise<boolean> {
    const { store, log } = this.deps;
    if (!(await store.takeOver(pending, now))) return false;
    if (pending.tick < now - CATCH_UP_WINDOW_MS) {
      await store.settle(pending.name, { tick: pending.tick, error: "not queued within an hour of its time (RabbitMQ or Redis unreachable); given up" });
      log.warn({ schedule: pending.name, tick: new Date(pending.tick).toISOString() }, "gave up a schedule tick pending for over an hour");
      return true;
    }
    const state = await store.get(pending.name);
    return state ? this.run(state.schedule, pending.tick) : false;
  }
}
