// Turns one AMQP delivery into a task attempt: record it, run its handler, then settle it as succeeded,
// failed, cancelled, retrying (parked in a TTL retry queue) or dead (moved to the dead-letter queue).
// Every status change is an event of lib/task-lifecycle.ts; this module only orders the steps.
import type { ConsumeMessage } from "amqplib";
import { isFinished, type TaskRecord } from "../../lib/contract";
import { attemptToStart, CANCELLED_BY_OPERATOR, isAttempt, newTaskRecord, nextRecord, runOf, type AttemptRef, type TaskEvent } from "../../lib/task-lifecycle";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Outcome } from "../queue/consumer";
import type { SlotLease } from "../queue/slots";
import type { ConfirmPublisher } from "../queue/publisher";
import { carriedProperties, messagePriority, parseMessage, saysRecorded, type ParsedMessage } from "../queue/task-message";
import type { SummaryMarks } from "../store/summary-marks";
import type { TaskStore } from "../store/task-store";
import { planFailedAttempt } from "./attempt-failure";
import { AttemptLog, type AttemptLogSink } from "./attempt-log";
import { replyOnce } from "./reply-once";
import type { SummaryOutcomes } from "./summary-outcomes";
import { retryPolicy, TaskFailure, type RetryPolicy } from "../tasks/define-task";
import { checkTask, taskTypes, type PayloadCheck } from "../tasks/registry";

/** A task still running after this long is recorded as running; shorter ones are recorded once, when they end. */
const RUNNING_WRITE_DELAY_MS = 100;

/** Progress is written to Redis and pushed to browsers at most this often per task. */
const PROGRESS_INTERVAL_MS = 250;

/** Why an attempt's signal was aborted. */
export class AttemptAbort extends Error {
  constructor(readonly kind: "cancelled" | "timeout" | "shutdown", message: string) {
    super(message);
  }
}

/** The abort of an attempt an operator cancelled. */
export const cancelledByOperator = () => new AttemptAbort("cancelled", CANCELLED_BY_OPERATOR);

/** A delivery admitted to run: its record, its handler with the checked payload, and its retry policy. */
interface Admitted {
  record: TaskRecord;
  check: Extract<PayloadCheck, { ok: true }>;
  policy: RetryPolicy;
}

/** How a handler ended. */
type HandlerEnd = { ok: true; result: unknown } | { ok: false; failure: unknown };
/** How a handler ended, the newest record this attempt wrote, and how long it ran. */
type Ended = HandlerEnd & { record: TaskRecord; ms: number };

export interface TaskRunnerDeps {
  store: TaskStore;
  /** Confirmed publishing to the retry and dead-letter queues. */
  publisher: Pick<ConfirmPublisher, "publishRetry" | "publishDead">;
  /**
   * Types outside workers run (worker protocol): the queue of one, and the confirmed move of a message there. A
   * task of such a type published to TASK_QUEUE goes to its queue.
   */
  outsideTypes?: {
    queueOf: (type: string) => Promise<string | null>;
    forward: ConfirmPublisher["forward"];
  };
  /** Pushes a task record to every browser. */
  publish: (record: TaskRecord) => void;
  /** Records a message asking to run later (`runAt`, `delayMs`) as scheduled (see scheduled-tasks.ts); without it such a message runs now. */
  schedule?: (message: ConsumeMessage, parsed: ParsedMessage & { runAt: string }) => Promise<Outcome>;
  /** Where handlers' `ctx.log` lines are kept and pushed; without it they go to the worker's log only. */
  logs?: AttemptLogSink;
  /** Sends the final record to an AMQP reply_to queue; resolves once RabbitMQ confirmed it. */
  reply: (replyTo: string, correlationId: string | undefined, record: TaskRecord) => Promise<void>;
  /** Removes one dead-letter copy of a task that was settled while the copy was being published. */
  removeDeadCopy: (taskId: string) => Promise<unknown>;
  /** Whether another live worker says it is running this task right now. */
  heldElsewhere: (workerId: string, taskId: string) => Promise<boolean>;
  workerId: string;
  log: Logger;
  /** Called once when this worker records a task's final status (the activity counters). */
  finished?: (record: TaskRecord) => void;
  /**
   * Summary tracking (TASK_TRACK_SUMMARY): which types use it, where their successes are stored, and the
   * consumer's word that a delivery's ack is settled. Without it every task is recorded.
   */
  summary?: {
    tracks: (type: string) => boolean;
    outcomes: Pick<SummaryOutcomes, "succeeded" | "ackSettled">;
    marks: Pick<SummaryMarks, "isDone">;
    whenAckSettled: (message: ConsumeMessage, settled: () => void) => void;
    /** A success counted, not recorded (the worker's metrics). */
    counted: (record: TaskRecord) => void;
  };
}

/** A task this worker has claimed and not started yet: the cancel heard meanwhile, if any. */
class Starting {
  reason: AttemptAbort | null = null;
  private wake: (() => void) | undefined;
  private heardOnce: Promise<void> | undefined;

  cancel(reason: AttemptAbort): void {
    this.reason = reason;
    this.wake?.();
  }

  /** Resolves once a cancel is heard (made only by a delivery waiting for its slot). */
  heard(): Promise<void> {
    this.heardOnce ??= this.reason ? Promise.resolve() : new Promise((resolve) => (this.wake = resolve));
    return this.heardOnce;
  }
}

/** For a caller that bounds nothing (tests): a slot that is always free. */
const UNBOUNDED: SlotLease = { hold: () => Promise.resolve(true), release: () => undefined };

export class TaskRunner {
  /** Attempts running in this worker, by task id. */
  private readonly active = new Map<string, AttemptControl>();
  /**
   * Tasks this worker has claimed and not started yet, by id, with the cancel heard meanwhile (if any): a cancel
   * that found the claim asks for the attempt to stop, possibly before its handler has started.
   */
  private readonly starting = new Map<string, Starting>();

  constructor(private readonly deps: TaskRunnerDeps) {}

  /** Ids of the tasks this worker is running. */
  runningIds(): string[] {
    return [...this.active.keys()];
  }

  /** Aborts a running attempt here; true if this worker was running it. */
  abort(taskId: string, reason: AttemptAbort): boolean {
    const control = this.active.get(taskId);
    if (control) control.abort(reason);
    else if (this.starting.has(taskId)) this.starting.get(taskId)!.cancel(reason);
    else return false;
    return true;
  }

  /** Aborts every running attempt (shutdown past the grace period): each goes back to the queue. */
  abortAll(): void {
    for (const id of this.active.keys()) this.abort(id, new AttemptAbort("shutdown", "the worker shut down"));
  }

  /**
   * One delivery: admit it, run the attempt, then record and settle its outcome. The handler runs holding
   * `slot` (one of WORKER_CONCURRENCY); the slot is given back once the handler has ended, so the next delivery
   * starts while this outcome is stored, and held again if the delivery is run again (after a Redis outage).
   */
  async run(message: ConsumeMessage, slot: SlotLease = UNBOUNDED): Promise<Outcome> {
    // A delivery handed over without its slot (claimFirst) takes it just before its handler runs.
    if (!slot.claimFirst && !(await slot.hold())) return "release";
    const parsed = parseMessage(message);
    if (parsed.runAt !== undefined && parsed.error === undefined && this.deps.schedule) return this.deps.schedule(message, { ...parsed, runAt: parsed.runAt });
    if (parsed.error === undefined && !taskTypes.has(parsed.type) && this.deps.outsideTypes) {
      const queue = await this.deps.outsideTypes.queueOf(parsed.type);
      const forwarded = queue ? await this.forward(message, parsed, queue) : undefined;
      if (forwarded) return forwarded;
    }
    const summary = this.deps.summary;
    if (summary && parsed.error === undefined && summary.tracks(parsed.type) && parsed.run === 1 && !message.properties.replyTo && !saysRecorded(message.properties)) {
      // Published by a service without a record. A first delivery has never run: it runs with no read. A
      // redelivery may have succeeded already (its ack was lost): it is dropped if so, else run as a recorded task.
      if (!message.fields.redelivered) return this.runCounted(message, parsed, summary, slot);
      if (await summary.marks.isDone(parsed.id)) {
        this.deps.log.info({ taskId: parsed.id }, "summary-tracked task succeeded already; dropping the redelivery");
        return "ack";
      }
    }
    // The attempt is claimed with the read of its record, unless this worker already runs or starts the task (a
    // duplicate delivery: requeued below, and it must not replace the running attempt's claim).
    const claim = this.active.has(parsed.id) || this.starting.has(parsed.id) ? undefined : this.claimFor(parsed);
    if (!claim) return this.attempt(message, parsed, undefined, slot);
    this.starting.set(parsed.id, new Starting());
    try {
      return await this.attempt(message, parsed, claim, slot);
    } finally {
      this.starting.delete(parsed.id);
    }
  }

  /**
   * A task of a type an outside worker runs, published to TASK_QUEUE (a service submitting over AMQP): its record
   * is made if it has none, then its message moves to that worker's queue as it is (reply_to, run), confirmed
   * before the ack. A finished task, or a message of an earlier run, is left to the usual path (undefined).
   */
  private async forward(message: ConsumeMessage, parsed: ParsedMessage, queue: string): Promise<Outcome | undefined> {
    const { forward } = this.deps.outsideTypes!;
    let record = await this.deps.store.get(parsed.id);
    if (record && (isFinished(record.status) || runOf(record) !== parsed.run)) return undefined;
    if (record && (record.status === "running" || record.status === "stalled")) {
      // A second copy of a task an outside worker runs (published twice): should that worker die, RabbitMQ gives its
      // own copy to another; a second one there would only be run twice.
      this.deps.log.info({ taskId: parsed.id, worker: record.worker }, "a copy of a task an outside worker is running; dropping it");
      return "ack";
    }
    if (!record) {
      record = await this.deps.store.create(recordFromMessage(parsed, message));
      if (record) this.deps.publish(record);
    }
    await forward(queue, message.content, carriedProperties(message.properties, parsed.id, { queue: "work" }));
    this.deps.log.info({ taskId: parsed.id, type: parsed.type, queue }, "task of an outside worker's type forwarded to its queue");
    return "ack";
  }

  /**
   * A summary-tracked task's first delivery: run with no read and no claim (nobody can cancel a task without a
   * record), and, if it succeeds within RUNNING_WRITE_DELAY_MS, counted and marked done (see SummaryOutcomes)
   * instead of recorded, then acked. Anything else (a failure, a retry, a long run, which writes the record as
   * running) goes on as for a recorded task, from a record made from the message.
   */
  private async runCounted(message: ConsumeMessage, parsed: ParsedMessage, summary: NonNullable<TaskRunnerDeps["summary"]>, slot: SlotLease): Promise<Outcome> {
    const check = checkTask(parsed.type, parsed.payload);
    const record = recordFromMessage(parsed, message);
    if (!check.ok) return this.bury(message, record, { type: "bury", reason: check.error, at: now() });
    const ref = this.claimFor(parsed);
    const policy = retryPolicy(check.definition);
    if (!(await slot.hold())) return "release";
    const ended = await this.execute({ record, check, policy }, ref, 1, true);
    slot.release();
    if (!ended.ok || ended.record.version > 0) return this.conclude(message, policy, ref, 1, ended);
    await summary.outcomes.succeeded(parsed.id, parsed.type);
    summary.whenAckSettled(message, () => summary.outcomes.ackSettled(parsed.id));
    const succeeded = nextRecord(nextRecord(record, { type: "start", attempt: ref }) ?? record, { type: "succeed", attempt: ref, result: ended.result, at: now() });
    if (succeeded) {
      summary.counted(succeeded);
      this.deps.finished?.(succeeded);
    }
    return "ack";
  }

  /** The attempt this worker is about to make of a task, as written with its read (see TaskStore.claim). */
  private claimFor(parsed: ParsedMessage): AttemptRef {
    const definition = taskTypes.get(parsed.type);
    return { worker: this.deps.workerId, startedAt: now(), maxAttempts: definition ? retryPolicy(definition).maxAttempts : 1, run: parsed.run };
  }

  private async attempt(message: ConsumeMessage, parsed: ParsedMessage, claim: AttemptRef | undefined, slot: SlotLease): Promise<Outcome> {
    const admitted = await this.admit(message, parsed, claim);
    if (typeof admitted === "string") return admitted;
    // The claimed attempt, as a cancel would have recorded it; a claim of another type's policy (a record whose
    // type is not the message's) was not this attempt.
    const ref: AttemptRef =
      claim && claim.maxAttempts === admitted.policy.maxAttempts && claim.run === runOf(admitted.record)
        ? claim
        : { worker: this.deps.workerId, startedAt: now(), maxAttempts: admitted.policy.maxAttempts, run: runOf(admitted.record) };
    const attempt = attemptToStart(admitted.record, ref);
    if (attempt === undefined) {
      // Finished, or cancelled while it waited: nothing to run.
      const settled = await this.apply(admitted.record.id, { type: "start", attempt: ref }, admitted.record);
      return settled && isFinished(settled.status) ? this.replyOnce(message, settled) : "ack";
    }
    if (!(await this.slotFor(slot, this.starting.get(admitted.record.id)))) return "release";
    const ended = await this.execute(admitted, ref, attempt);
    slot.release();
    return this.conclude(message, admitted.policy, ref, attempt, ended);
  }

  /**
   * Holds the handler slot. A delivery claimed before it held one (claimFirst) stops waiting when a cancel finds
   * its claim: the attempt then ends at once without its handler starting (the slot, once granted, goes back).
   * False if the wait was cancelled (the worker is stopping or the queue paused): the delivery goes back.
   */
  private async slotFor(slot: SlotLease, starting: Starting | undefined): Promise<boolean> {
    if (!slot.claimFirst || !starting) return slot.hold();
    // A slot free now (short tasks: most of the time) needs no race; a cancel heard already stops the handler
    // before it starts (execute), as it does when the cancel wins the race.
    if (slot.tryHold?.()) return true;
    const held = slot.hold();
    const first = await Promise.race([held, starting.heard().then(() => "cancelled" as const)]);
    if (first !== "cancelled") return first;
    void held.then((granted) => granted && slot.release());
    return true;
  }

  /**
   * Whether a delivery is to run: its record (created from the message if another service published it),
   * the handler and retry policy. Otherwise the outcome for the delivery: a finished task is dropped, an
   * unusable one buried, a duplicate of a task running elsewhere requeued. A task whose previous attempt was
   * interrupted (its worker died) counts that attempt, and is buried if none are left.
   */
  private async admit(message: ConsumeMessage, parsed: ParsedMessage, claim: AttemptRef | undefined): Promise<Admitted | Outcome> {
    const { log, workerId } = this.deps;
    const id = parsed.id;
    // A message another service published has no record yet: it is written with the attempt's first change
    // (version 0 means "create"), which saves a round trip to Redis per task. Nobody can cancel it before that.
    let record = (await (claim ? this.deps.store.claim(id, claim) : this.deps.store.get(id))) ?? recordFromMessage(parsed, message);
    if (parsed.run !== runOf(record)) {
      // An operator retried the task since this message was published: the current run has a message of its own.
      log.info({ taskId: id, run: parsed.run, current: runOf(record) }, "message of an earlier run of the task; dropping it");
      return "ack";
    }

    if (isFinished(record.status)) {
      // Its record was kept for this delivery (cancelled while waiting); from now on retention may trim it.
      if (record.awaitingDelivery) record = (await this.apply(id, { type: "drop-delivery" }, record)) ?? record;
      log.info({ taskId: id, status: record.status }, "task already settled; dropping the delivery");
      // A task cancelled while it waited, or one whose reply was lost in a crash, still owes its one reply.
      return this.replyOnce(message, record);
    }
    // Running here, or starting here (a delivery without a claim while another of this task starts).
    if (this.active.has(id) || (this.starting.has(id) && !claim) || (record.status === "running" && record.worker && record.worker !== workerId && (await this.deps.heldElsewhere(record.worker, id)))) {
      // A duplicate delivery of a task still being run (its first channel closed, the worker lives on), or an
      // unusable copy of it: never buried while the task runs.
      log.info({ taskId: id, worker: record.worker }, "task is running elsewhere; requeueing the duplicate");
      return "requeue";
    }
    if (parsed.error !== undefined) return this.bury(message, record, { type: "bury", reason: parsed.error, at: now() });
    const check = checkTask(record.type, record.payload);
    if (!check.ok) return this.bury(message, record, { type: "bury", reason: check.error, at: now() });
    const policy = retryPolicy(check.definition);
    if (record.status === "running" || record.status === "stalled") {
      // The previous attempt's worker died or lost its connection mid-run: the attempt counts as interrupted.
      const interrupted = await this.apply(id, { type: "interrupt", at: now() });
      if (!interrupted) return "ack";
      record = interrupted;
      log.warn({ taskId: id, attempt: record.attempts }, "previous attempt was interrupted");
      // A cancelled attempt (recorded from a claim whose worker then died) ends the task cancelled, below, not dead.
      if (record.attempts >= policy.maxAttempts && !record.cancelRequested) {
        return this.bury(message, record, { type: "bury", reason: `Attempt ${record.attempts} of ${policy.maxAttempts} was interrupted (its worker stopped) and no attempts are left.`, at: now() });
      }
    }
    return { record, check, policy };
  }

  /**
   * Runs the handler under a timeout and the attempt's abort signal. Most tasks finish in a few milliseconds
   * and are recorded once, when they end; one still running after RUNNING_WRITE_DELAY_MS is recorded as
   * running (with its worker, for stall detection) at that point. Progress is written at most every
   * PROGRESS_INTERVAL_MS; a cancel seen in either write aborts the handler.
   */
  private async execute({ record: admitted, check, policy }: Admitted, ref: AttemptRef, attempt: number, counted = false): Promise<Ended> {
    const { log, workerId } = this.deps;
    const id = admitted.id;
    let record = admitted;
    const startedMs = Date.now();
    const control = new AttemptControl();
    // A cancel heard since the claim: the attempt stops before its handler starts.
    const early = this.starting.get(id)?.reason;
    if (early) control.abort(early);
    this.active.set(id, control);
    const timeout = () => control.abort(new AttemptAbort("timeout", `Attempt timed out after ${policy.timeoutMs} ms.`));
    // One timer for a short attempt: the timeout's is set only once it is recorded as running (or sooner if shorter).
    let timer = policy.timeoutMs <= RUNNING_WRITE_DELAY_MS ? setTimeout(timeout, policy.timeoutMs) : undefined;
    // The attempt's own writes (running, progress), chained; most attempts end before the first.
    let writes: Promise<unknown> | undefined;
    const markRunning = setTimeout(() => {
      timer ??= setTimeout(timeout, policy.timeoutMs - (Date.now() - startedMs));
      writes = (writes ?? Promise.resolve())
        .then(() => this.apply(id, { type: "start", attempt: ref }, record))
        .then((saved) => {
          if (saved) record = saved;
          // Cancelled or settled while it waited to be recorded as running: stop the handler.
          // A cancel that found this attempt's claim recorded it as running with cancelRequested: stop it here too.
          if (!saved || !isAttempt(saved, ref) || saved.cancelRequested) control.abort(cancelledByOperator());
          // Like the record, the log has a line for the start of an attempt that lasts; every attempt's end has one.
          else log.info({ taskId: id, type: record.type, attempt }, "task running");
        })
        .catch((err: unknown) => log.warn({ taskId: id, err: messageOf(err) }, "running state not saved"));
    }, RUNNING_WRITE_DELAY_MS);
    let lastProgressAt = 0;
    const progress = (fraction: number) => {
      const at = Date.now();
      if (at - lastProgressAt < PROGRESS_INTERVAL_MS || control.aborted) return;
      lastProgressAt = at;
      writes = (writes ?? Promise.resolve())
        .then(() => this.apply(id, { type: "progress", worker: workerId, run: ref.run, fraction }))
        .then((saved) => {
          if (saved) record = saved;
          if (saved?.cancelRequested) control.abort(cancelledByOperator());
        })
        .catch((err: unknown) => log.warn({ taskId: id, err: messageOf(err) }, "progress not saved"));
    };

    // Made on the first line: a handler that never logs costs nothing here.
    let lines: AttemptLog | undefined;
    const logFromHandler = (message: string, fields?: Record<string, unknown>) => (lines ??= new AttemptLog(id, attempt, ref.run, this.deps.logs, log, now)).add(message, fields);

    let ended: HandlerEnd;
    try {
      if (control.aborted) throw control.reason;
      const context = { progress, log: logFromHandler, attempt, taskId: id, get signal() { return control.signal; } };
      ended = { ok: true, result: await control.race(check.definition.run(check.payload, context)) };
    } catch (err) {
      ended = { ok: false, failure: control.aborted ? control.reason : err };
    } finally {
      clearTimeout(timer);
      clearTimeout(markRunning);
      this.active.delete(id);
    }
    if (writes) await writes;
    // The attempt's lines are stored before its outcome; a success only counted (summary tracking) stores none,
    // as it stores no record for them to belong to.
    if (lines && counted && ended.ok && record.version === 0) lines.drop();
    else if (lines) await lines.close();
    const ms = Date.now() - startedMs;
    return ended.ok ? { ok: true, result: ended.result, record, ms } : { ok: false, failure: ended.failure, record, ms };
  }

  /** Records how the attempt ended (succeeded, failed, cancelled, handed back, retrying or dead) and settles the delivery. */
  private async conclude(message: ConsumeMessage, policy: RetryPolicy, ref: AttemptRef, attempt: number, ended: Ended): Promise<Outcome> {
    const { log } = this.deps;
    const { record } = ended;
    const id = record.id;
    const at = now();
    if (ended.ok) {
      // At debug: a line per success costs a busy worker a sixth of its CPU; the worker logs a summary a minute instead.
      log.debug({ taskId: id, type: record.type, attempt, ms: ended.ms }, "task succeeded");
      return this.settle(message, id, { type: "succeed", attempt: ref, result: ended.result, at }, record);
    }
    const { failure } = ended;
    const error = messageOf(failure);
    if (failure instanceof AttemptAbort && failure.kind === "cancelled") {
      log.info({ taskId: id }, "task cancelled while running");
      return this.settle(message, id, { type: "abort", attempt: ref, error, at }, record);
    }
    if (failure instanceof AttemptAbort && failure.kind === "shutdown") {
      // The worker is stopping: hand the task back without counting the attempt.
      await this.apply(id, { type: "hand-back", attempt: ref, error, at }, record);
      log.info({ taskId: id }, "task handed back to the queue: worker shutting down");
      return "release";
    }
    if (failure instanceof TaskFailure) {
      log.info({ taskId: id, err: error }, "task failed");
      return this.settle(message, id, { type: "fail", attempt: ref, error, at }, record);
    }
    const outcome = failure instanceof AttemptAbort && failure.kind === "timeout" ? "timeout" : "error";
    const plan = planFailedAttempt(policy, ref, attempt, outcome, error, at);
    if (plan.kind === "bury") return this.bury(message, record, plan.event);
    // Record first, then park the message: if the worker dies between the two, the original is simply redelivered.
    await this.apply(id, plan.event, record);
    await this.deps.publisher.publishRetry(message.content, carriedProperties(message.properties, id, { queue: "retry" }), plan.delayMs);
    log.info({ taskId: id, attempt, delayMs: plan.delayMs, err: error }, "attempt failed; retrying later");
    return "ack";
  }

  /**
   * Moves a task to the dead-letter queue with its reason, records it dead and replies. The copy comes first:
   * a record says dead only once RabbitMQ has confirmed its message in the dead-letter queue, so a blip or a
   * crash in between leaves the delivery to be redelivered and buried again.
   */
  private async bury(message: ConsumeMessage, record: TaskRecord, event: Extract<TaskEvent, { type: "bury" }>): Promise<Outcome> {
    // Settled already (an operator cancelled it, or a duplicate delivery got here first): nothing to bury.
    if (nextRecord(record, event)?.status !== "dead") return "ack";
    await this.deps.publisher.publishDead(message.content, carriedProperties(message.properties, record.id, { queue: "dead", reason: event.reason }));
    let buried = false;
    const dead = await this.apply(record.id, event, record, () => (buried = true));
    if (!buried || dead?.status !== "dead") {
      // Settled while the copy was published: that copy is one too many.
      await this.deps.removeDeadCopy(record.id).catch((err: unknown) => this.deps.log.warn({ taskId: record.id, err: messageOf(err) }, "a surplus dead-letter copy could not be removed"));
      return "ack";
    }
    this.deps.log.warn({ taskId: record.id, reason: event.reason }, "task is dead: moved to the dead-letter queue");
    return this.replyOnce(message, dead);
  }

  /** Writes a final outcome (unless the task was settled meanwhile) and replies. */
  private async settle(message: ConsumeMessage, id: string, event: TaskEvent, known: TaskRecord): Promise<Outcome> {
    const saved = await this.apply(id, event, known);
    return saved && isFinished(saved.status) ? this.replyOnce(message, saved) : "ack";
  }

  /**
   * Applies a lifecycle event to the stored record (compare-and-set) and pushes a changed record to browsers.
   * Resolves with the stored record, changed or not (undefined: there is none).
   */
  private async apply(id: string, event: TaskEvent, known?: TaskRecord, onChange?: () => void): Promise<TaskRecord | undefined> {
    let changed = false;
    let finishing = false;
    const saved = await this.deps.store.update(
      id,
      (cur) => {
        const next = nextRecord(cur, event);
        changed = next !== undefined;
        finishing = next !== undefined && !isFinished(cur.status) && isFinished(next.status);
        return next;
      },
      known,
    );
    if (saved && changed) {
      this.deps.publish(saved);
      onChange?.();
    }
    if (saved && changed && finishing) this.deps.finished?.(saved);
    return saved;
  }

  /**
   * Sends a finished task's record to the message's reply_to exactly once (see reply-once.ts); "requeue" if another
   * delivery still holds it. Most messages have no reply_to: they are answered at once, without a promise.
   */
  private replyOnce(message: ConsumeMessage, finished: TaskRecord): Outcome | Promise<Outcome> {
    if (!message.properties.replyTo) return "ack";
    return replyOnce({ apply: (id, event, known) => this.apply(id, event, known), reply: this.deps.reply }, message.properties, finished).then((sent) => (sent ? "ack" : "requeue"));
  }

}

/** A new record (not yet stored) for a message published by another service, or whose record was lost. */
function recordFromMessage(parsed: ParsedMessage, message: ConsumeMessage): TaskRecord {
  const record = newTaskRecord({ type: "submit", id: parsed.id, taskType: parsed.type, payload: parsed.payload, priority: messagePriority(message.properties), at: now() });
  return parsed.run > 1 ? { ...record, run: parsed.run } : record;
}

/**
 * An attempt's abort. Its AbortController is made only when the handler reads `ctx.signal` or the attempt is
 * aborted: most short handlers never do, and making one per task cost the worker about 1.5 % of its CPU.
 */
class AttemptControl {
  private controller?: AbortController;
  private rejectRace?: (reason: unknown) => void;
  aborted = false;
  reason: unknown = undefined;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.rejectRace?.(reason);
  }

  /** `work`'s outcome, or the abort's reason should the attempt be aborted first. */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.aborted) return Promise.reject(this.reason);
    // One promise settled by whichever comes first (Promise.race would make two more per attempt).
    return new Promise<T>((resolve, reject) => {
      this.rejectRace = reject;
      Promise.resolve(work).then(resolve, reject);
    });
  }
}

/**
 * The time as an ISO string. A worker stamps a task two or three times within the same millisecond, and
 * `toISOString` cost it about 2 µs a task (2 % of its time at concurrency 16): the string is kept for its millisecond.
 */
const now = (() => {
  let ms = Number.NaN;
  let iso = "";
  return () => {
    const t = Date.now();
    if (t !== ms) {
      ms = t;
      iso = new Date(t).toISOString();
    }
    return iso;
  };
})();
