// Delayed tasks: a task submitted with `runAt` or `delayMs` is recorded `scheduled` with an entry in a Redis
// sorted set scored by its runAt. One web node at a time (a lease) queues the due ones: each entry moves to a
// "moving" set, the record goes scheduled -> queued (compare-and-set), its message is published with confirms,
// then the entry goes. A move a dead node left half done is done again from the moving set.
// The moving set is also where a submission or a retry marks a task it is about to publish (store/publish-outbox.ts): a
// node that died before RabbitMQ took the message leaves the mark, and the same sweep publishes the task again.
import type { ConsumeMessage } from "amqplib";
import { isFinished, type Payload, type TaskRecord } from "../../lib/contract";
import { newTaskRecord, nextRecord, runOf, type TaskEvent } from "../../lib/task-lifecycle";
import { safeJson } from "../../lib/safe-json";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { ConfirmPublisher, ReplyProperties } from "../queue/publisher";
import { messagePriority, type ParsedMessage } from "../queue/task-message";
import type { Outcome } from "../queue/consumer";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import { Lease } from "../redis/lease";
import type { TaskStore } from "../store/task-store";
import { replyOnce, type ReplyOnceDeps } from "./reply-once";

/** How often the lease holder looks for due tasks: a task is queued at most about this long after its runAt. */
const POLL_MS = 250;
/** The lease: renewed every LEASE_CHECK_MS; a holder that dies is replaced within LEASE_MS. */
const LEASE_MS = 3000;
const LEASE_CHECK_MS = 1000;
/** A move still in the moving set after this long was left by a node that stopped: it is done again. */
const STALE_MOVE_MS = 15_000;
const STALE_SWEEP_MS = 2000;
/** Entries taken per poll, and moved at once. */
const MOVE_BATCH = 200;
const MOVE_CONCURRENCY = 32;

// Takes the due entries (runAt <= Redis's clock) into the moving set, if the caller holds the lease.
// KEYS: schedule, moving, lease. ARGV: lease token, most entries. Returns {now (ms), ids} or false.
const TAKE_DUE = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], now, id)
end
return {now, ids}
`;

// Moves older than ARGV[3] ms in the moving set, stamped again (so each is retried once per STALE_MOVE_MS).
// KEYS: moving, lease. ARGV: lease token, most entries, age (ms). Returns {now (ms), ids} or false.
const TAKE_STALE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], now, id) end
return {now, ids}
`;

export interface ScheduledTaskMoverDeps {
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  publisher: Pick<ConfirmPublisher, "publishTask">;
  /** The queue of a task's type (an outside worker's types go to its queue). */
  queueOf: (type: string) => Promise<string>;
  /** A record this node changed: every tab sees it. */
  changed: (record: TaskRecord) => void;
  /** Sends a finished task's record to an AMQP reply_to; resolves once RabbitMQ confirmed it. */
  reply: ReplyOnceDeps["reply"];
  log: Logger;
}

/** Queues scheduled tasks when their time comes, on whichever web node holds the lease. */
export class ScheduledTaskMover {
  private readonly lease: Lease;
  private timers: NodeJS.Timeout[] = [];
  private busy: Promise<void> | undefined;
  private lastSweep = 0;
  private failing = false;
  private stopped = false;

  constructor(private readonly deps: ScheduledTaskMoverDeps) {
    this.lease = new Lease(deps.redis, deps.keys.scheduledMover, LEASE_MS);
  }

  start(): void {
    void this.checkLease();
    this.timers = [setInterval(() => void this.checkLease(), LEASE_CHECK_MS), setInterval(() => this.poll(), POLL_MS)];
  }

  /** Stops moving, waits for a move under way, and gives the lease up so another node takes over at once. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.busy;
    await this.lease.release();
  }

  private async checkLease(): Promise<void> {
    if (this.stopped) return;
    try {
      const { held, changed } = await this.lease.check();
      if (changed) this.deps.log.info(held ? "took the scheduled-tasks lease: this node queues scheduled tasks when due" : "lost the scheduled-tasks lease");
    } catch (err) {
      this.deps.log.warn({ err: messageOf(err) }, "scheduled-tasks lease check failed");
    }
  }

  private poll(): void {
    if (this.busy || this.stopped || !this.lease.isHeld) return;
    this.busy = this.moveDue()
      .then(() => {
        this.failing = false;
      })
      .catch((err: unknown) => {
        if (!this.failing) this.deps.log.warn({ err: messageOf(err) }, "queueing due scheduled tasks failed; trying again");
        this.failing = true;
      })
      .finally(() => (this.busy = undefined));
  }

  /** Moves every due task, a batch at a time; every STALE_SWEEP_MS also the moves a stopped node left. */
  private async moveDue(): Promise<void> {
    const { redis, keys } = this.deps;
    for (;;) {
      // A node stopping finishes the batch under way, not the whole due backlog (the next holder takes it over).
      if (this.stopped) return;
      const taken = (await redis.eval(TAKE_DUE, 3, keys.scheduled, keys.scheduledMoving, keys.scheduledMover, this.lease.currentToken, MOVE_BATCH)) as [number, string[]] | null;
      if (!taken) return;
      await this.moveAll(taken);
      if (taken[1].length < MOVE_BATCH) break;
    }
    if (Date.now() - this.lastSweep < STALE_SWEEP_MS) return;
    this.lastSweep = Date.now();
    const stale = (await redis.eval(TAKE_STALE, 2, keys.scheduledMoving, keys.scheduledMover, this.lease.currentToken, MOVE_BATCH, STALE_MOVE_MS)) as [number, string[]] | null;
    if (stale && stale[1].length > 0) {
      this.deps.log.warn({ tasks: stale[1].length }, "finishing publishes that a stopped node left (scheduled tasks' moves, submissions)");
      await this.moveAll(stale);
    }
  }

  private async moveAll([nowMs, ids]: [number, string[]]): Promise<void> {
    const at = new Date(Number(nowMs)).toISOString();
    const errors: unknown[] = [];
    for (let i = 0; i < ids.length; i += MOVE_CONCURRENCY) {
      await Promise.all(ids.slice(i, i + MOVE_CONCURRENCY).map((id) => this.move(id, at).catch((err: unknown) => void errors.push(err))));
    }
    // A move that failed stays in the moving set: the stale sweep does it again.
    if (errors.length > 0) throw errors[0];
  }

  /**
   * Queues one task whose time came: scheduled -> queued, then its message (confirmed), then the entry goes.
   * A task no longer scheduled (cancelled, or gone) only loses its entry; one scheduled for later goes back at its
   * runAt. A task queued whose message may never have been published (an earlier move, or a submission, whose node
   * stopped first: its entry left in the moving set) has its message published again: at least once.
   */
  private async move(id: string, at: string): Promise<void> {
    const { store, redis, keys } = this.deps;
    let changed = false;
    const record = await store.update(id, (cur) => {
      const next = nextRecord(cur, { type: "enqueue", at });
      changed = next !== undefined;
      return next;
    });
    // Cancelled while scheduled: it has no message, so no worker sends its reply (the cancel did, unless it failed).
    if (record && !changed && isFinished(record.status)) await replyForScheduled(this.deps, record);
    if (record && (changed || awaitsMessage(record))) {
      const reply = parseReply(await store.carriedProperties(id));
      await this.deps.publisher.publishTask({ id, type: record.type, payload: record.payload as Payload }, record.priority, runOf(record), await this.deps.queueOf(record.type), reply);
      if (changed) this.deps.changed(record);
      this.deps.log.info({ taskId: id, type: record.type, runAt: record.runAt, priority: record.priority }, changed ? "scheduled task queued" : "task whose publish a stopped node left published again");
    }
    if (record && !changed && record.status === "scheduled" && record.runAt !== undefined) {
      // Still scheduled, for later (an entry an earlier record of this id left): back in the schedule at its own runAt.
      await redis.multi().zadd(keys.scheduled, Date.parse(record.runAt), id).zrem(keys.scheduledMoving, id).exec();
      return;
    }
    await redis.zrem(keys.scheduledMoving, id);
  }
}

/**
 * A queued task with a stale entry in the moving set that no worker has claimed or started: its message may not
 * have been published. (A worker's claim means a message reached it: RabbitMQ redelivers that one if need be.) It may
 * have had attempts: an overdue retry queued again as a new run (stall-detector.ts).
 */
const awaitsMessage = (record: TaskRecord) => record.status === "queued" && record.claim === undefined;

/**
 * The one reply a task scheduled over AMQP with reply_to owes once it is finished without a message (cancelled
 * while scheduled): sent by the cancel, and again tried by the mover at its runAt (reply-once.ts sends it once).
 */
export async function replyForScheduled(deps: { store: TaskStore; changed: (record: TaskRecord) => void; reply: ReplyOnceDeps["reply"] }, record: TaskRecord): Promise<void> {
  if (!isFinished(record.status)) return;
  const to = parseReply(await deps.store.carriedProperties(record.id));
  if (!to?.replyTo) return;
  const apply = async (id: string, event: TaskEvent, known?: TaskRecord) => {
    let changed = false;
    const saved = await deps.store.update(
      id,
      (cur) => {
        const next = nextRecord(cur, event);
        changed = next !== undefined;
        return next;
      },
      known,
    );
    if (saved && changed) deps.changed(saved);
    return saved;
  };
  await replyOnce({ apply, reply: deps.reply }, to, record);
}

function parseReply(raw: string | null): ReplyProperties | undefined {
  if (!raw) return undefined;
  const data = safeJson(raw) as ReplyProperties | undefined;
  if (typeof data !== "object" || data === null) return undefined;
  return {
    ...(typeof data.replyTo === "string" ? { replyTo: data.replyTo } : {}),
    ...(typeof data.correlationId === "string" ? { correlationId: data.correlationId } : {}),
  };
}

/**
 * On a worker: a message another service published with `runAt` or `delayMs` is recorded scheduled (keeping its
 * reply_to), then acknowledged; a web node queues it when due. A message whose task exists already (a second copy,
 * or a redelivery after the record was written) is dropped.
 */
export function scheduleFromMessage(deps: { store: TaskStore; publish: (record: TaskRecord) => void; log: Logger }) {
  return async (message: ConsumeMessage, parsed: ParsedMessage & { runAt: string }): Promise<Outcome> => {
    const { store, log } = deps;
    const existing = await store.get(parsed.id);
    if (existing) {
      log.info({ taskId: parsed.id, status: existing.status }, "a scheduling message for a task that exists already; dropping it");
      return "ack";
    }
    const record = newTaskRecord({ type: "submit", id: parsed.id, taskType: parsed.type, payload: parsed.payload, priority: messagePriority(message.properties), at: new Date().toISOString(), runAt: parsed.runAt });
    const { replyTo, correlationId } = message.properties;
    const carried = typeof replyTo === "string" && replyTo ? JSON.stringify({ replyTo, ...(typeof correlationId === "string" ? { correlationId } : {}) }) : undefined;
    const saved = await store.createScheduled(record, carried);
    if (saved) {
      deps.publish(saved);
      log.info({ taskId: parsed.id, type: parsed.type, runAt: parsed.runAt }, "task scheduled from a message");
    }
    return "ack";
  };
}
