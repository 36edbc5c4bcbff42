// The one owner of a task's status: which (status, event) pairs are legal and what the next record is.
// Pure: the worker's runner, the web node's operator actions, the stall sweep and the dashboard only ask it.
import { isFinished, MAX_ATTEMPT_LOG, type TaskAttempt, type TaskClaim, type TaskRecord, type TaskStatus } from "./contract";

/** The error of a task an operator cancelled. */
export const CANCELLED_BY_OPERATOR = "Cancelled by an operator.";

/** Statuses an operator may cancel from (a running task is asked to stop; the others stop at once). */
export const CANCELLABLE_STATUSES: readonly TaskStatus[] = ["scheduled", "queued", "running", "retrying", "stalled"];
/** Statuses an operator may run again from, with a fresh attempt count. */
export const RETRYABLE_STATUSES: readonly TaskStatus[] = ["dead", "failed", "cancelled"];

/** A dead task an operator has not discarded yet: its message waits in the dead-letter queue. */
export const isDeadLetter = (task: TaskRecord) => task.status === "dead" && !task.discardedAt;
/** Whether the dashboard offers Cancel: cancellable, and no cancel is pending already. */
export const canCancel = (task: TaskRecord) => CANCELLABLE_STATUSES.includes(task.status) && !task.cancelRequested;
export const canRetry = (task: TaskRecord) => RETRYABLE_STATUSES.includes(task.status);
export const canDiscard = isDeadLetter;
/** Whether the worker named in the record is to be told to abort its handler (a running task, or a stalled one it may still run). */
export const mustAbortWorker = (task: TaskRecord) => task.cancelRequested === true && (task.status === "running" || task.status === "cancelled");
/** A running task whose cancel was asked for and not yet seen by its worker. */
export const isCancelling = (task: TaskRecord) => task.status === "running" && task.cancelRequested === true;
/**
 * Whether the record counts towards finished history (and may be trimmed by retention). A dead letter does
 * not: it stays until an operator discards or retries it. Nor does a cancelled task whose message still waits:
 * if its record went, the delivery would recreate it from the message and run it.
 */
export const isRetainedHistory = (task: TaskRecord) => isFinished(task.status) && !isDeadLetter(task) && !task.awaitingDelivery;

/**
 * Whether the reply is claimed under `claim` (a token unique to one delivery's attempt to send it). Two
 * deliveries can claim in the same millisecond, so the claim's time cannot tell them apart.
 */
export const holdsReply = (record: TaskRecord, claim: string) => record.reply?.state === "sending" && record.reply.claim === claim;

/** Whether the attempt a worker claimed (see TaskRecord's `claim`) is in the record's log: the claim is spent. */
export const claimWritten = (record: Pick<TaskRecord, "attemptLog">, claim: Pick<AttemptRef, "worker" | "startedAt">) =>
  record.attemptLog.some((a) => a.worker === claim.worker && a.startedAt === claim.startedAt);

/** Which run of a task a record is (1, then one more for each operator retry). */
export const runOf = (task: Pick<TaskRecord, "run">) => task.run ?? 1;

/** One attempt as a worker knows it: who runs it, since when, of which run, and how many attempts the task type allows. */
export type AttemptRef = TaskClaim;

/** Why an attempt ended without a result that settles the task. */
export type AttemptFailure = "error" | "timeout";

export type TaskEvent =
  /** A new task, as submitted (HTTP, socket, an operator) or first met in a message another service published. */
  | { type: "submit"; id: string; taskType: string; payload: unknown; priority: number; at: string; runAt?: string; schedule?: { name: string; tick: string } }
  /** A scheduled task's time came (`at`, at or after its `runAt`): it goes to its queue. */
  | { type: "enqueue"; at: string }
  /** A worker starts an attempt. */
  | { type: "start"; attempt: AttemptRef }
  /** The previous attempt's worker died or lost its connection mid-run; the task is about to run again. */
  | { type: "interrupt"; at: string }
  /** The running attempt reports progress (0..1); a task marked stalled by a cut-off worker runs again. */
  | { type: "progress"; worker: string; run: number; fraction: number }
  | { type: "succeed"; attempt: AttemptRef; result: unknown; at: string }
  /** The handler threw a TaskFailure: retrying cannot help. */
  | { type: "fail"; attempt: AttemptRef; error: string; at: string }
  /** The running attempt stopped because an operator cancelled it. */
  | { type: "abort"; attempt: AttemptRef; error: string; at: string }
  /** The worker shuts down: the task goes back to the queue and the attempt does not count. */
  | { type: "hand-back"; attempt: AttemptRef; error: string; at: string }
  /** The attempt failed and another is allowed: RabbitMQ holds the task until `nextAttemptAt`. */
  | { type: "retry-later"; attempt: AttemptRef; outcome: AttemptFailure; error: string; nextAttemptAt: string; at: string }
  /** The task goes to the dead-letter queue; `attempt` closes the failed last attempt in the same write. */
  | { type: "bury"; reason: string; at: string; attempt?: { ref: AttemptRef; outcome: AttemptFailure; error: string } }
  /** The worker named in a running record stopped beating. */
  | { type: "stall"; worker: string }
  /** An operator cancels. */
  | { type: "cancel"; at: string }
  /** A worker met the message of a finished task and dropped it. */
  | { type: "drop-delivery" }
  /**
   * A task still `retrying` although its next attempt was due before `overdueBefore`: its retry message was lost
   * (a retry queue on a node that died). It is queued again as a new run, so the lost message, should it come
   * back, changes nothing.
   */
  | { type: "recover-overdue"; overdueBefore: string }
  /** The recovered run's message could not be published: back to retrying (still overdue), for the next sweep. */
  | { type: "recover-failed"; run: number; nextAttemptAt: string }
  /**
   * A worker is about to publish the final record to the message's reply_to: it claims the reply, unless it
   * was sent already or another worker claimed it after `staleBefore` (a claim older than that was abandoned).
   */
  | { type: "reply-claim"; at: string; staleBefore: string; claim: string }
  /** RabbitMQ confirmed the reply under `claim`. */
  | { type: "reply-sent"; claim: string; at: string }
  /** The reply under `claim` could not be published: another delivery may try. */
  | { type: "reply-release"; claim: string }
  /** An operator runs a finished task again, optionally with an edited payload. */
  | { type: "retry"; payload: unknown; at: string }
  /** An operator discards a dead letter. */
  | { type: "discard"; at: string }
  /** The operator's retry could not be queued: the record goes back to how it was. */
  | { type: "undo-retry"; before: TaskRecord; retriedAt: string };

export type TaskEventType = TaskEvent["type"];

/**
 * - `next`: the event applies; store this record.
 * - `unchanged`: legal, but nothing is to be written (the task is already there, or the event no longer concerns it).
 * - `refused`: illegal in this status; `reason` says why, in words an operator can act on.
 */
export type Transition = { kind: "next"; record: TaskRecord } | { kind: "unchanged" } | { kind: "refused"; reason: string };

const next = (record: TaskRecord): Transition => ({ kind: "next", record });
const UNCHANGED: Transition = { kind: "unchanged" };
const refused = (reason: string): Transition => ({ kind: "refused", reason });

/** The record of a new task, queued, or scheduled when it has a `runAt` (version 0: not stored yet). */
export function newTaskRecord(event: Extract<TaskEvent, { type: "submit" }>): TaskRecord {
  const record: TaskRecord = { id: event.id, type: event.taskType, payload: event.payload, status: "queued", progress: 0, priority: event.priority, attempts: 0, attemptLog: [], createdAt: event.at, version: 0, ...(event.schedule === undefined ? {} : { schedule: event.schedule.name, scheduleTick: event.schedule.tick }) };
  return event.runAt === undefined ? record : { ...record, status: "scheduled", runAt: event.runAt };
}

/**
 * Events that leave a scheduled task as it is. It has no message anywhere yet, so a delivery or worker event
 * naming its id is not a run of it: only its time coming (`enqueue`) or a cancel moves it.
 */
const IGNORED_WHILE_SCHEDULED: ReadonlySet<TaskEventType> = new Set<TaskEventType>(["start", "interrupt", "progress", "succeed", "fail", "abort", "hand-back", "retry-later", "bury", "stall", "drop-delivery", "recover-overdue", "recover-failed", "reply-sent", "reply-release", "undo-retry"]);

/**
 * `record` with every field present (an absent one as undefined), always in the same order. V8 copies such an
 * object with `{ ...record, field: value }` in tens of nanoseconds when every field set is one the record has;
 * each field the copy has to add costs about 0.7 µs (Node 20), which made one transition of a short task cost
 * 4 µs. JSON leaves undefined fields out, so nothing changes in Redis or on the wire.
 */
function withAllFields(r: TaskRecord): TaskRecord {
  const all: { [K in keyof Required<TaskRecord>]: TaskRecord[K] } = {
    id: r.id,
    type: r.type,
    payload: r.payload,
    status: r.status,
    progress: r.progress,
    priority: r.priority,
    run: r.run,
    attempts: r.attempts,
    maxAttempts: r.maxAttempts,
    runAt: r.runAt,
    nextAttemptAt: r.nextAttemptAt,
    result: r.result,
    error: r.error,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    worker: r.worker,
    attemptLog: r.attemptLog,
    cancelRequested: r.cancelRequested,
    awaitingDelivery: r.awaitingDelivery,
    reply: r.reply,
    discardedAt: r.discardedAt,
    retriedAt: r.retriedAt,
    schedule: r.schedule,
    scheduleTick: r.scheduleTick,
    payloadBytes: r.payloadBytes,
    resultBytes: r.resultBytes,
    // A claim is the store's, read with the record; a record a transition makes has none.
    claim: undefined,
    version: r.version,
  };
  return all;
}

/** Applies `event` to `current`. Never throws; the caller writes the record with compare-and-set. */
export function transition(current: TaskRecord, event: TaskEvent): Transition {
  const cur = withAllFields(current);
  if (cur.status === "scheduled" && IGNORED_WHILE_SCHEDULED.has(event.type)) return UNCHANGED;
  switch (event.type) {
    case "submit":
      return refused(`Task ${cur.id} exists already.`);
    case "enqueue":
      if (cur.status !== "scheduled" || (cur.runAt !== undefined && event.at < cur.runAt)) return UNCHANGED;
      return next({ ...cur, status: "queued" });
    case "start":
      return start(cur, event.attempt);
    case "interrupt":
      if (cur.status !== "running" && cur.status !== "stalled") return UNCHANGED;
      return next({ ...cur, status: "queued", attemptLog: closeAttempt(cur.attemptLog, "interrupted", event.at, "the worker stopped mid-run") });
    case "progress":
      if ((cur.status !== "running" && cur.status !== "stalled") || cur.worker !== event.worker || runOf(cur) !== event.run) return UNCHANGED;
      return next({ ...cur, status: "running", progress: clamp(event.fraction) });
    case "succeed":
      return settleAttempt(cur, event.attempt, (r) => ({ ...r, status: "succeeded", progress: 1, result: event.result ?? null, error: undefined, finishedAt: event.at, attemptLog: closeAttempt(r.attemptLog, "succeeded", event.at) }));
    case "fail":
      return settleAttempt(cur, event.attempt, (r) => ({ ...r, status: "failed", error: event.error, finishedAt: event.at, attemptLog: closeAttempt(r.attemptLog, "failed", event.at, event.error) }));
    case "abort":
      return settleAttempt(cur, event.attempt, (r) => ({ ...r, status: "cancelled", error: event.error, finishedAt: event.at, attemptLog: closeAttempt(r.attemptLog, "cancelled", event.at, event.error) }));
    case "hand-back":
      return settleAttempt(cur, event.attempt, (r) => ({ ...r, status: "queued", attempts: Math.max(0, r.attempts - 1), attemptLog: closeAttempt(r.attemptLog, "requeued", event.at, event.error) }));
    case "retry-later":
      return settleAttempt(cur, event.attempt, (r) => ({ ...r, status: "retrying", error: event.error, nextAttemptAt: event.nextAttemptAt, attemptLog: closeAttempt(r.attemptLog, event.outcome, event.at, event.error) }));
    case "bury": {
      if (isFinished(cur.status)) return UNCHANGED;
      const bury = (r: TaskRecord): TaskRecord => ({ ...r, status: "dead", error: event.reason, finishedAt: event.at, nextAttemptAt: undefined });
      if (!event.attempt) return next(bury(cur));
      const { ref, outcome, error } = event.attempt;
      return settleAttempt(cur, ref, (r) => bury({ ...r, attemptLog: closeAttempt(r.attemptLog, outcome, event.at, error) }));
    }
    case "stall":
      if (cur.status !== "running" || cur.worker !== event.worker) return UNCHANGED;
      return next({ ...cur, status: "stalled" });
    case "cancel":
      if (!CANCELLABLE_STATUSES.includes(cur.status)) return refused(`Task ${cur.id} is ${cur.status}; only scheduled, queued, running, retrying or stalled tasks can be cancelled.`);
      // No message of a scheduled task exists yet (it is queued only if still scheduled at its time): nothing waits to be dropped.
      if (cur.status === "scheduled") return next({ ...cur, status: "cancelled", error: CANCELLED_BY_OPERATOR, finishedAt: event.at });
      if (cur.status === "running") return cur.cancelRequested ? UNCHANGED : next({ ...cur, cancelRequested: true });
      // A claim whose attempt is in the log was written (and ended: retrying, handed back); it is no attempt under way.
      if (current.claim && !cur.cancelRequested && !claimWritten(cur, current.claim)) {
        // A worker read the task to run it, and has not written the attempt yet: its handler may be running. The
        // attempt is recorded as running, and its worker asked to stop it.
        const started = start(cur, current.claim);
        if (started.kind === "next" && started.record.status === "running") return next({ ...started.record, cancelRequested: true });
      }
      // Its message still waits in a queue: the record stays until a worker drops it. A stalled task's worker may
      // in fact still run it (only its beats were missed): it is asked to stop too.
      return next({ ...cur, status: "cancelled", error: CANCELLED_BY_OPERATOR, finishedAt: event.at, nextAttemptAt: undefined, awaitingDelivery: true, ...(cur.status === "stalled" ? { cancelRequested: true } : {}) });
    case "recover-overdue":
      if (cur.status !== "retrying" || !cur.nextAttemptAt || cur.nextAttemptAt >= event.overdueBefore) return UNCHANGED;
      return next({ ...cur, status: "queued", run: runOf(cur) + 1, nextAttemptAt: undefined });
    case "recover-failed":
      if (cur.status !== "queued" || runOf(cur) !== event.run || event.run < 2) return UNCHANGED;
      return next({ ...cur, status: "retrying", run: event.run - 1, nextAttemptAt: event.nextAttemptAt });
    case "drop-delivery":
      return cur.awaitingDelivery ? next({ ...cur, awaitingDelivery: undefined }) : UNCHANGED;
    case "reply-claim":
      if (!isFinished(cur.status)) return refused(`Task ${cur.id} is ${cur.status}; only a finished task has its reply sent.`);
      if (cur.reply?.state === "sent" || (cur.reply?.state === "sending" && cur.reply.at > event.staleBefore)) return UNCHANGED;
      return next({ ...cur, reply: { state: "sending", at: event.at, claim: event.claim } });
    case "reply-sent":
      return holdsReply(cur, event.claim) ? next({ ...cur, reply: { state: "sent", at: event.at } }) : UNCHANGED;
    case "reply-release":
      return holdsReply(cur, event.claim) ? next({ ...cur, reply: undefined }) : UNCHANGED;
    case "retry":
      if (!RETRYABLE_STATUSES.includes(cur.status)) return refused(`Task ${cur.id} is ${cur.status}; only dead, failed or cancelled tasks can be retried.`);
      return next({
        ...cur,
        payload: event.payload,
        status: "queued",
        progress: 0,
        attempts: 0,
        result: undefined,
        error: undefined,
        finishedAt: undefined,
        nextAttemptAt: undefined,
        runAt: undefined,
        cancelRequested: undefined,
        awaitingDelivery: undefined,
        // A new run: messages and attempts of the earlier one no longer apply, and it owes its own reply.
        run: runOf(cur) + 1,
        reply: undefined,
        discardedAt: undefined,
        retriedAt: event.at,
      });
    case "discard":
      if (isDeadLetter(cur)) return next({ ...cur, discardedAt: event.at });
      return refused(cur.status === "dead" ? `Task ${cur.id} was already discarded.` : `Task ${cur.id} is ${cur.status}; only dead tasks can be discarded.`);
    case "undo-retry":
      if (cur.status !== "queued" || cur.retriedAt !== event.retriedAt) return UNCHANGED;
      return next({ ...event.before, version: cur.version });
  }
}

/** The record after `event`, or undefined when nothing is to be written (unchanged or refused): a store mutation. */
export function nextRecord(current: TaskRecord, event: TaskEvent): TaskRecord | undefined {
  const t = transition(current, event);
  return t.kind === "next" ? t.record : undefined;
}

/**
 * Whether `record` is this very attempt under way: running, or marked stalled while its worker was only cut off
 * from Redis (the attempt goes on; when it ends it is the same attempt, not a second one).
 */
export const isAttempt = (record: TaskRecord, ref: AttemptRef) =>
  (record.status === "running" || record.status === "stalled") && record.worker === ref.worker && record.startedAt === ref.startedAt && runOf(record) === ref.run;

function start(cur: TaskRecord, ref: AttemptRef): Transition {
  if (!startChanges(cur, ref)) return UNCHANGED;
  if (cur.cancelRequested) return next({ ...cur, status: "cancelled", error: CANCELLED_BY_OPERATOR, finishedAt: ref.startedAt });
  const n = cur.attempts + 1;
  return next({
    ...cur,
    status: "running",
    progress: 0,
    attempts: n,
    maxAttempts: ref.maxAttempts,
    nextAttemptAt: undefined,
    startedAt: ref.startedAt,
    worker: ref.worker,
    attemptLog: [...cur.attemptLog, { attempt: n, worker: ref.worker, startedAt: ref.startedAt, outcome: "running" as const }].slice(-MAX_ATTEMPT_LOG),
  });
}

/** Whether starting the attempt `ref` changes `cur` at all: not finished, of the same run, not that attempt already. */
function startChanges(cur: TaskRecord, ref: AttemptRef): boolean {
  return !isFinished(cur.status) && runOf(cur) === ref.run && !isAttempt(cur, ref);
}

/**
 * The attempt number that starting `ref` would record as running on `current` (the `attempts` of
 * `nextRecord(current, { type: "start", attempt: ref })` when that record is running), or undefined when starting
 * it records no running attempt (scheduled, finished, another run, that attempt already, or cancelled while it
 * waited). A worker asks before every attempt; this answers without building the record.
 */
export function attemptToStart(current: TaskRecord, ref: AttemptRef): number | undefined {
  if (current.status === "scheduled" && IGNORED_WHILE_SCHEDULED.has("start")) return undefined;
  return startChanges(current, ref) && !current.cancelRequested ? current.attempts + 1 : undefined;
}

/**
 * Ends an attempt. A short attempt was never written as running (it is recorded once, when it ends), so an
 * attempt not yet in the record is started first; if starting it settles the task instead (cancelled
 * meanwhile), that is the result. A task finished meanwhile, or retried as a new run, is left alone.
 */
function settleAttempt(cur: TaskRecord, ref: AttemptRef, settle: (running: TaskRecord) => TaskRecord): Transition {
  if (isFinished(cur.status) || runOf(cur) !== ref.run) return UNCHANGED;
  if (isAttempt(cur, ref)) return next(settle(cur));
  const started = start(cur, ref);
  if (started.kind !== "next") return started;
  return started.record.status === "running" ? next(settle(started.record)) : started;
}

/** Closes the last attempt, if it is still open, with its outcome. */
function closeAttempt(log: TaskAttempt[], outcome: TaskAttempt["outcome"], at: string, error?: string): TaskAttempt[] {
  const last = log.at(-1);
  if (!last || last.outcome !== "running") return log;
  // A literal, not a spread that adds fields (see withAllFields).
  const why = error || last.error;
  const closed: TaskAttempt = why === undefined ? { attempt: last.attempt, worker: last.worker, startedAt: last.startedAt, finishedAt: at, outcome } : { attempt: last.attempt, worker: last.worker, startedAt: last.startedAt, finishedAt: at, outcome, error: why };
  return [...log.slice(0, -1), closed];
}

const clamp = (n: number) => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0);
