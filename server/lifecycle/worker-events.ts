// Applies outside workers' events (worker protocol v1, docs/worker-protocol.md): announcements go to the worker
// directory; task reports become lifecycle events, written with compare-and-set as a Taskcast worker writes them.
import type { ConsumeMessage, MessageProperties, Options } from "amqplib";
import { setTimeout as delay } from "node:timers/promises";
import { isFinished, type TaskRecord } from "../../lib/contract";
import { CANCELLED_BY_OPERATOR, isAttempt, nextRecord, runOf, type AttemptRef, type TaskEvent } from "../../lib/task-lifecycle";
import { parseWorkerEvent, WORKER_PROTOCOL_VERSION, type MalformedKind, type RunVerdict, type TaskReport, type WorkerAnnounce } from "../../lib/worker-protocol";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { Outcome } from "../queue/consumer";
import type { ConfirmPublisher } from "../queue/publisher";
import { RUN_HEADER } from "../queue/task-message";
import { REASON_HEADER } from "../queue/topology";
import type { TaskStore } from "../store/task-store";
import type { TaskRoutes } from "../store/task-routes";
import type { WorkerDirectory } from "../store/worker-directory";
import { taskTypes } from "../tasks/registry";
import { planFailedAttempt, policyOf } from "./attempt-failure";
import { replyOnce } from "./reply-once";

/** A report that cannot be applied (Redis or RabbitMQ unreachable) is tried again this many times, then dropped. */
const APPLY_TRIES = 6;
const APPLY_RETRY_MS = 250;
/** Refused events are logged at most once per this interval (with how many were not logged). */
const REFUSED_LOG_INTERVAL_MS = 10_000;

export interface WorkerEventsDeps {
  store: TaskStore;
  workers: WorkerDirectory;
  /** Routes announced types to their worker's queue, which it declares; the queue of a type for a retry. */
  routes: Pick<TaskRoutes, "learn" | "queueOf" | "reserved">;
  /** Whether an operator paused the queue (a verdict that would start an attempt there is `paused`). */
  isPaused: (queue: string) => Promise<boolean>;
  /** Confirmed publishing to retry queues and the dead-letter queue. */
  publisher: Pick<ConfirmPublisher, "publishRetry" | "publishDead">;
  /** Removes one dead-letter copy of a task that was settled while the copy was being published. */
  removeDeadCopy: (taskId: string) => Promise<unknown>;
  /** Sends a finished task's record to its submitter's reply_to; resolves once RabbitMQ confirmed it. */
  reply: (replyTo: string, correlationId: string | undefined, record: TaskRecord) => Promise<void>;
  /** Sends a verdict to the reply_to of a `running` report that asked for one. */
  answer: (replyTo: string, correlationId: string | undefined, verdict: RunVerdict) => Promise<void>;
  /** `task:changed` for every record written; `worker-event:refused` for every event refused. */
  live: LiveEvents;
  log: Logger;
  /** Called once when a report settles a task (the activity counters). */
  finished?: (record: TaskRecord) => void;
}

/** Thrown inside a report's handling: the event is refused, counted and logged, and nothing more is written. */
class Refusal extends Error {
  constructor(
    readonly kind: MalformedKind,
    message: string,
  ) {
    super(message);
  }
}

export class WorkerEvents {
  /** Per task: the tail of its reports being applied here, and how many wait in it (for coalescing progress). */
  private readonly chains = new Map<string, { tail: Promise<void>; waiting: number }>();
  private refusedLog = { at: 0, suppressed: 0 };

  constructor(private readonly deps: WorkerEventsDeps) {}

  /**
   * Handles one message of the events queue. Never rejects: the consumer acknowledges every message, so a bad
   * one is never redelivered. Reports of one task are applied one after another, in the order they came.
   */
  async handle(message: Pick<ConsumeMessage, "content" | "properties">): Promise<Outcome> {
    const parsed = parseWorkerEvent(message.content);
    if (!parsed.ok) {
      this.refuse(parsed.kind, parsed.reason);
      return "ack";
    }
    const event = parsed.event;
    if (event.kind === "worker") {
      await this.announce(event);
      // An announcement that could not be stored is not requeued: the worker announces again within 5 s.
      return "ack";
    }
    const chain = this.chains.get(event.id) ?? { tail: Promise.resolve(), waiting: 0 };
    chain.waiting++;
    const done: Promise<Outcome> = chain.tail.then(async () => {
      chain.waiting--;
      // A newer report of this task waits behind this one: a plain running/progress report adds nothing to it.
      if (event.status === "running" && !message.properties.replyTo && chain.waiting > 0) return "ack";
      // One that cannot be applied for want of Redis or RabbitMQ comes back later: the worker has acked its delivery.
      return this.withRetries(`report ${event.status} of task ${event.id}`, () => this.report(event, message.properties));
    });
    // `done` never rejects (withRetries catches everything); the catch only keeps the chain going should that change.
    chain.tail = done.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(event.id, chain);
    const outcome = await done;
    if (this.chains.get(event.id) === chain && chain.waiting === 0) this.chains.delete(event.id);
    return outcome;
  }

  /** An announcement: the worker joins the directory, its types are routed to its queue (declared here). */
  private async announce(event: WorkerAnnounce): Promise<void> {
    const reserved = this.deps.routes.reserved(event.queue);
    if (reserved) return this.refuse("not-applicable", `worker ${event.worker} announced queue "${event.queue}": ${reserved}`);
    await this.withRetries(`announcement of ${event.worker}`, async () => {
      await this.deps.workers.announce(event);
      const kept = await this.deps.routes.learn(event);
      if (kept.length > 0) this.refuse("not-applicable", `worker ${event.worker} announced types another queue's live worker runs (${kept.join(", ")}); they stay with that queue`);
    });
  }

  /**
   * Runs `step`, again after a pause while it fails for want of Redis or RabbitMQ; a refusal is counted, never
   * retried. After APPLY_TRIES failures the event is requeued (it comes back after the consumer's pause).
   */
  private async withRetries(what: string, step: () => Promise<void>): Promise<Outcome> {
    for (let tried = 1; ; tried++) {
      try {
        await step();
        return "ack";
      } catch (err) {
        if (err instanceof Refusal) {
          this.refuse(err.kind, err.message);
          return "ack";
        }
        if (tried >= APPLY_TRIES) {
          this.deps.log.error({ err: messageOf(err) }, `${what} could not be applied; requeueing it`);
          this.deps.live.emit("worker-event:refused", "unapplied");
          return "requeue";
        }
        await delay(APPLY_RETRY_MS * 2 ** (tried - 1));
      }
    }
  }

  private refuse(kind: MalformedKind, reason: string): void {
    this.deps.live.emit("worker-event:refused", kind);
    const now = Date.now();
    if (now - this.refusedLog.at < REFUSED_LOG_INTERVAL_MS) {
      this.refusedLog.suppressed++;
      return;
    }
    this.deps.log.warn({ kind, reason, notLoggedSince: this.refusedLog.suppressed }, "refused an outside worker's event");
    this.refusedLog = { at: now, suppressed: 0 };
  }

  /** One task report: the record it concerns, then the lifecycle event it means. */
  private async report(r: TaskReport, properties: MessageProperties): Promise<void> {
    const replyTo = r.status === "running" && typeof properties.replyTo === "string" && properties.replyTo ? properties.replyTo : undefined;
    const verdict = (record: TaskRecord | undefined, run: boolean) =>
      replyTo
        ? this.deps.answer(replyTo, properties.correlationId as string | undefined, { v: WORKER_PROTOCOL_VERSION, id: r.id, run, status: record?.status ?? "unknown", ...(run && record ? { attempt: record.attempts } : {}) })
        : Promise.resolve();
    // A `running` report asking for the verdict starts (or re-checks) an attempt; the others report on one.
    const asks = replyTo !== undefined;
    if (asks && (await this.pausedFor(r))) {
      // Nothing is recorded: the worker puts the delivery back and waits before taking the next one.
      return this.deps.answer(replyTo, properties.correlationId as string | undefined, { v: WORKER_PROTOCOL_VERSION, id: r.id, run: false, status: "paused" });
    }
    let record: TaskRecord | undefined;
    try {
      record = await this.admit(r, asks);
    } catch (err) {
      // Another live worker's task: the verdict names its status (running), so the asker keeps the delivery and asks
      // again, rather than acking a task whose holder may be dead (RabbitMQ redelivered it before the holder went silent).
      if (err instanceof Refusal) await verdict(await this.deps.store.get(r.id).catch(() => undefined), false).catch(() => undefined);
      throw err;
    }
    if (!record) {
      // Late, and changing nothing; but the reply it carries may still be owed (an earlier try at it failed).
      const current = await this.deps.store.get(r.id);
      await this.replyIfOwed(r, current);
      return verdict(current, false);
    }
    const saved = await this.applyReport(r, record, staleFor(r, asks), asks);
    await this.replyIfOwed(r, saved);
    if (!replyTo) return;
    const runs = saved !== undefined && saved.status === "running" && saved.worker === r.worker && !saved.cancelRequested;
    await verdict(saved, runs);
  }

  /** The submitter's one reply, once the task (of this report's run) is finished: done, failed, dead, or cancelled. */
  private async replyIfOwed(r: TaskReport, record: TaskRecord | undefined): Promise<void> {
    if (!record || !r.reply_to || !isFinished(record.status) || (r.run ?? 1) !== runOf(record)) return;
    const sent = await replyOnce({ apply: (id, event, known) => this.apply(id, event, known), reply: this.deps.reply }, { replyTo: r.reply_to, correlationId: r.correlation_id }, record);
    if (!sent) this.deps.log.warn({ taskId: r.id }, "another sender held the task's reply for 30 s; leaving it to that one");
  }

  /**
   * The record a report applies to, with a previous holder's interrupted attempt closed as a Taskcast worker
   * closes it; undefined when the report is late and changes nothing (an earlier run's, or a failed attempt's
   * while its task waits for the next one). Refuses a report of an unknown task or of another live worker's task.
   */
  private async admit(r: TaskReport, asks: boolean): Promise<TaskRecord | undefined> {
    const { store, workers, log } = this.deps;
    let record = await store.get(r.id);
    if (!record) throw new Refusal("unknown-task", `task ${r.id} has no record (reported by ${r.worker})`);
    // Built-in types are run by Taskcast's own workers, which never report over the events queue.
    if (taskTypes.has(record.type)) throw new Refusal("not-applicable", `task ${r.id} is of the built-in type "${record.type}", which only Taskcast's workers run (reported by ${r.worker})`);
    // A delivery without the run header is run 1, as a Taskcast worker reads it.
    if ((r.run ?? 1) !== runOf(record)) {
      log.info({ taskId: r.id, run: r.run ?? 1, current: runOf(record) }, "report of an earlier run of the task; ignoring it");
      return undefined;
    }
    if (staleFor(r, asks)(record)) return undefined;
    // A report naming its attempt is that attempt's, which is this worker's (staleFor checked it).
    if (r.attempt !== undefined) return record;
    if ((record.status === "running" || record.status === "stalled") && record.worker && record.worker !== r.worker) {
      const holder = record.worker;
      // RabbitMQ redelivered the task to this worker: the holder's delivery is gone (its channel closed), whatever its announcements say.
      const takeover = asks && r.redelivered === true;
      if (!takeover && (await workers.live()).some((w) => w.id === holder)) throw new Refusal("not-applicable", `task ${r.id} is running on live worker ${holder}, not on ${r.worker}`);
      // Its worker is gone and RabbitMQ gave the task to this one: that attempt counts as interrupted.
      const interrupted = await this.apply(r.id, { type: "interrupt", at: now() }, record);
      if (!interrupted) return undefined;
      record = interrupted;
      const policy = policyOf(record.type);
      // A cancelled attempt (its cancel was asked for) ends the task cancelled when this report starts it, not dead.
      if (record.status === "queued" && record.attempts >= policy.maxAttempts && !record.cancelRequested) {
        // Buried: the report then changes nothing, but the submitter still gets its reply.
        return this.bury(record, { type: "bury", reason: `Attempt ${record.attempts} of ${policy.maxAttempts} was interrupted (its worker stopped) and no attempts are left.`, at: now() }, carried(r));
      }
    }
    return record;
  }

  /** Applies a report to an admitted record; resolves with the stored record. */
  private async applyReport(r: TaskReport, record: TaskRecord, stale: (cur: TaskRecord) => boolean, asks: boolean): Promise<TaskRecord | undefined> {
    const at = now();
    const policy = policyOf(record.type);
    const run = runOf(record);
    // The attempt the report is about: the one recorded for this worker, else a new one starting now.
    const refFor = (cur: TaskRecord): AttemptRef => ({
      worker: r.worker,
      startedAt: (cur.status === "running" || cur.status === "stalled") && cur.worker === r.worker && cur.startedAt ? cur.startedAt : at,
      maxAttempts: policy.maxAttempts,
      run,
    });
    switch (r.status) {
      case "running":
        return this.updateByReport(r.id, record, stale, (cur) => {
          // The worker met a task cancelled while it waited: the record has nothing more to wait for.
          if (isFinished(cur.status)) return cur.awaitingDelivery ? nextRecord(cur, { type: "drop-delivery" }) : undefined;
          const ref = refFor(cur);
          // Its own worker asks again about an attempt whose cancel was asked for: the attempt ends cancelled here,
          // and the verdict (run: false, cancelled) tells the worker to stop and ack.
          if (asks && cur.cancelRequested && isAttempt(cur, ref)) return nextRecord(cur, { type: "abort", attempt: ref, error: CANCELLED_BY_OPERATOR, at });
          const started = isAttempt(cur, ref) ? cur : nextRecord(cur, { type: "start", attempt: ref });
          if (!started || (started.status !== "running" && started.status !== "stalled")) return started;
          const fraction = r.progress ?? (started.status === "stalled" ? started.progress : undefined);
          const progressed = fraction === undefined ? started : (nextRecord(started, { type: "progress", worker: r.worker, run, fraction }) ?? started);
          return progressed === cur ? undefined : progressed;
        });
      case "succeeded":
        return this.updateByReport(r.id, record, stale, (cur) => nextRecord(cur, { type: "succeed", attempt: refFor(cur), result: r.result ?? null, at }));
      case "failed":
        // A task whose cancel was asked for and that stopped: cancelled, as a Taskcast worker's aborted attempt.
        return this.updateByReport(r.id, record, stale, (cur) => nextRecord(cur, cur.cancelRequested ? { type: "abort", attempt: refFor(cur), error: r.error!, at } : { type: "fail", attempt: refFor(cur), error: r.error!, at }));
      case "error":
        return this.failAttempt(r, record, refFor, stale, at);
    }
  }

  /** An `error` report: the task type's retry policy decides between another attempt after a backoff and the dead-letter queue. */
  private async failAttempt(r: TaskReport, record: TaskRecord, refFor: (cur: TaskRecord) => AttemptRef, stale: (cur: TaskRecord) => boolean, at: string): Promise<TaskRecord | undefined> {
    const policy = policyOf(record.type);
    const error = r.error!;
    const planFor = (cur: TaskRecord) => {
      const ref = refFor(cur);
      return planFailedAttempt(policy, ref, isAttempt(cur, ref) ? cur.attempts : cur.attempts + 1, "error", error, at);
    };
    if (record.cancelRequested) return this.updateByReport(r.id, record, stale, (cur) => nextRecord(cur, { type: "abort", attempt: refFor(cur), error, at }));
    const first = planFor(record);
    if (first.kind === "bury") return this.bury(record, first.event, carried(r));
    let delayMs = 0;
    let retried = false;
    const saved = await this.update(r.id, record, (cur) => {
      // Set afresh in every round of the compare-and-set: a round that lost to another writer must not publish.
      retried = false;
      if (stale(cur)) return undefined;
      const plan = planFor(cur);
      if (plan.kind !== "retry") return undefined;
      const next = nextRecord(cur, plan.event);
      retried = next?.status === "retrying";
      delayMs = plan.delayMs;
      return next;
    });
    if (!retried || !saved) return saved;
    // Record first, then park the message, as a Taskcast worker does; the stall sweep re-queues a retry whose message was lost.
    const queue = await this.queueOf(r.worker, saved.type);
    // Published here until it goes: were the report applied again (withRetries), its record would say the retry was parked already.
    for (let tried = 1; ; tried++) {
      try {
        await this.deps.publisher.publishRetry(taskMessage(saved), { ...taskMessageProperties(saved), ...carried(r) }, delayMs, queue);
        break;
      } catch (err) {
        if (tried >= APPLY_TRIES) {
          this.deps.log.error({ taskId: saved.id, err: messageOf(err) }, "retry message not published; the stall sweep queues the task again once it is overdue");
          return saved;
        }
        await delay(APPLY_RETRY_MS * 2 ** (tried - 1));
      }
    }
    this.deps.log.info({ taskId: saved.id, worker: r.worker, attempt: saved.attempts, delayMs, queue, err: error }, "outside worker's attempt failed; retrying later");
    return saved;
  }

  /**
   * Whether a verdict request would start an attempt on a paused queue: the queue the worker announced (the one
   * it consumes), else its task type's. A request naming its attempt re-checks one already running, which finishes.
   */
  private async pausedFor(r: TaskReport): Promise<boolean> {
    if (r.attempt !== undefined) return false;
    let queue = (await this.deps.workers.announced(r.worker))?.queue;
    if (!queue) {
      const record = await this.deps.store.get(r.id);
      if (!record) return false;
      queue = await this.deps.routes.queueOf(record.type);
    }
    return this.deps.isPaused(queue);
  }

  /** The queue a retry goes back to: the reporting worker's, else that of a live worker offering the type. */
  private async queueOf(worker: string, type: string): Promise<string | undefined> {
    const own = await this.deps.workers.announced(worker);
    if (own?.queue) return own.queue;
    return this.deps.routes.queueOf(type);
  }

  /** As a Taskcast worker buries: the dead-letter copy first, then the record (a surplus copy is removed). */
  private async bury(record: TaskRecord, event: Extract<TaskEvent, { type: "bury" }>, reply: Options.Publish): Promise<TaskRecord | undefined> {
    if (nextRecord(record, event)?.status !== "dead") return record;
    const properties = taskMessageProperties(record);
    await this.deps.publisher.publishDead(taskMessage(record), { ...properties, ...reply, headers: { ...properties.headers, [REASON_HEADER]: event.reason.slice(0, 1000) } });
    let buried = false;
    const dead = await this.apply(record.id, event, record, () => (buried = true));
    if (!buried || dead?.status !== "dead") {
      await this.deps.removeDeadCopy(record.id).catch((err: unknown) => this.deps.log.warn({ taskId: record.id, err: messageOf(err) }, "a surplus dead-letter copy could not be removed"));
      return dead;
    }
    this.deps.log.warn({ taskId: record.id, reason: event.reason }, "task is dead: moved to the dead-letter queue");
    return dead;
  }

  /**
   * A report's change, judged against the record as it is when written: the report of an attempt that another
   * web node has meanwhile recorded as failed (its task now waits for the next attempt) changes nothing.
   */
  private updateByReport(id: string, known: TaskRecord, stale: (cur: TaskRecord) => boolean, mutate: (cur: TaskRecord) => TaskRecord | undefined): Promise<TaskRecord | undefined> {
    return this.update(id, known, (cur) => (stale(cur) ? undefined : mutate(cur)));
  }

  private apply(id: string, event: TaskEvent, known: TaskRecord | undefined, onChange?: () => void): Promise<TaskRecord | undefined> {
    return this.update(id, known, (cur) => nextRecord(cur, event), onChange);
  }

  /** Compare-and-set through the store; a changed record goes to every browser, a newly finished one to the counters. */
  private async update(id: string, known: TaskRecord | undefined, mutate: (cur: TaskRecord) => TaskRecord | undefined, onChange?: () => void): Promise<TaskRecord | undefined> {
    let changed = false;
    let finishing = false;
    const saved = await this.deps.store.update(
      id,
      (cur) => {
        const next = mutate(cur);
        changed = next !== undefined;
        finishing = next !== undefined && !isFinished(cur.status) && isFinished(next.status);
        return next;
      },
      known,
    );
    if (saved && changed) {
      this.deps.live.emit("task:changed", saved);
      onChange?.();
    }
    if (saved && finishing) this.deps.finished?.(saved);
    return saved;
  }
}

/**
 * A retrying task whose next attempt is not due yet: whatever a worker reports of it now is about the attempt that
 * failed (a duplicate `error`, a late progress), so it changes nothing. Its next attempt's message only reaches a
 * worker once it is due.
 */
const awaitsNextAttempt = (record: TaskRecord) => record.status === "retrying" && record.nextAttemptAt !== undefined && Date.now() < Date.parse(record.nextAttemptAt);

/**
 * Whether a report comes too late to change `cur`. A report naming its attempt (echoed from the verdict) is late
 * unless that attempt is the record's current one, on this worker. Without it: a `running` report asking for the
 * verdict may start the next attempt whenever its delivery comes (RabbitMQ holds a retry until it is due; no clock
 * is compared), and any other report is late while the task waits for its next attempt.
 */
function staleFor(r: TaskReport, asks: boolean): (cur: TaskRecord) => boolean {
  if (r.attempt !== undefined) return (cur) => !((cur.status === "running" || cur.status === "stalled") && cur.worker === r.worker && cur.attempts === r.attempt);
  return asks ? () => false : awaitsNextAttempt;
}

/** A task's message body as every worker gets it. */
const taskMessage = (record: TaskRecord) => Buffer.from(JSON.stringify({ type: record.type, payload: record.payload, id: record.id }));

function taskMessageProperties(record: TaskRecord): Options.Publish & { headers: Record<string, unknown> } {
  const run = runOf(record);
  return { messageId: record.id, type: record.type, contentType: "application/json", priority: record.priority, headers: run > 1 ? { [RUN_HEADER]: run } : {} };
}

/** The submitter's reply address a report carries, as message properties for the task's next copy. */
function carried(r: TaskReport): Options.Publish {
  return { ...(r.reply_to ? { replyTo: r.reply_to } : {}), ...(r.correlation_id ? { correlationId: r.correlation_id } : {}) };
}

const now = () => new Date().toISOString();
