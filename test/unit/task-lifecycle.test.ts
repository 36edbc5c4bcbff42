import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TASK_STATUSES, type TaskRecord, type TaskStatus } from "../../lib/contract";
import {
  attemptToStart,
  CANCELLED_BY_OPERATOR,
  canCancel,
  canDiscard,
  canRetry,
  holdsReply,
  isDeadLetter,
  isRetainedHistory,
  mustAbortWorker,
  newTaskRecord,
  transition,
  type AttemptRef,
  type TaskEvent,
  type TaskEventType,
  type Transition,
} from "../../lib/task-lifecycle";

const T0 = "2026-01-01T00:00:00.000Z";
const T1 = "2026-01-01T00:00:01.000Z";
const T2 = "2026-01-01T00:00:02.000Z";
/** The attempt the running and stalled records below hold. */
const HELD: AttemptRef = { worker: "w1", startedAt: T0, maxAttempts: 3, run: 1 };
/** Another worker's new attempt. */
const FRESH: AttemptRef = { worker: "w2", startedAt: T1, maxAttempts: 3, run: 1 };

function record(status: TaskStatus, extra: Partial<TaskRecord> = {}): TaskRecord {
  const base = newTaskRecord({ type: "submit", id: "t1", taskType: "echo", payload: { a: 1 }, priority: 0, at: T0 });
  const held = status === "running" || status === "stalled";
  return {
    ...base,
    status,
    version: 4,
    attempts: status === "queued" || status === "scheduled" ? 0 : 1,
    ...(status === "scheduled" ? { runAt: T1 } : {}),
    ...(held ? { worker: HELD.worker, startedAt: HELD.startedAt, attemptLog: [{ attempt: 1, worker: HELD.worker, startedAt: HELD.startedAt, outcome: "running" as const }] } : {}),
    ...(["succeeded", "failed", "dead", "cancelled"].includes(status) ? { finishedAt: T0 } : {}),
    ...extra,
  };
}

const events: Record<TaskEventType, TaskEvent> = {
  submit: { type: "submit", id: "t1", taskType: "echo", payload: {}, priority: 0, at: T1 },
  enqueue: { type: "enqueue", at: T1 },
  start: { type: "start", attempt: FRESH },
  interrupt: { type: "interrupt", at: T1 },
  progress: { type: "progress", worker: "w1", run: 1, fraction: 0.5 },
  succeed: { type: "succeed", attempt: HELD, result: { ok: true }, at: T1 },
  fail: { type: "fail", attempt: HELD, error: "no", at: T1 },
  abort: { type: "abort", attempt: HELD, error: CANCELLED_BY_OPERATOR, at: T1 },
  "hand-back": { type: "hand-back", attempt: HELD, error: "the worker shut down", at: T1 },
  "retry-later": { type: "retry-later", attempt: HELD, outcome: "error", error: "boom", nextAttemptAt: T2, at: T1 },
  bury: { type: "bury", reason: "Failed 3 of 3 attempts", at: T1 },
  stall: { type: "stall", worker: "w1" },
  cancel: { type: "cancel", at: T1 },
  "drop-delivery": { type: "drop-delivery" },
  "recover-overdue": { type: "recover-overdue", overdueBefore: T2 },
  "recover-failed": { type: "recover-failed", run: 2, nextAttemptAt: T0 },
  "reply-claim": { type: "reply-claim", at: T2, staleBefore: T1, claim: "c1" },
  "reply-sent": { type: "reply-sent", claim: "c1", at: T2 },
  "reply-release": { type: "reply-release", claim: "c1" },
  retry: { type: "retry", payload: { a: 2 }, at: T1 },
  discard: { type: "discard", at: T1 },
  "undo-retry": { type: "undo-retry", before: record("failed"), retriedAt: T1 },
};

// Each cell: the status after the event, "=" (legal, nothing to write) or "!" (refused).
// Columns follow TASK_STATUSES: scheduled, queued, running, retrying, stalled, succeeded, failed, dead, cancelled.
const TABLE: Record<TaskEventType, readonly string[]> = {
  submit: ["!", "!", "!", "!", "!", "!", "!", "!", "!"],
  start: ["=", "running", "running", "running", "running", "=", "=", "=", "="],
  interrupt: ["=", "=", "queued", "=", "queued", "=", "=", "=", "="],
  progress: ["=", "=", "running", "=", "running", "=", "=", "=", "="],
  succeed: ["=", "succeeded", "succeeded", "succeeded", "succeeded", "=", "=", "=", "="],
  fail: ["=", "failed", "failed", "failed", "failed", "=", "=", "=", "="],
  abort: ["=", "cancelled", "cancelled", "cancelled", "cancelled", "=", "=", "=", "="],
  "hand-back": ["=", "queued", "queued", "queued", "queued", "=", "=", "=", "="],
  "retry-later": ["=", "retrying", "retrying", "retrying", "retrying", "=", "=", "=", "="],
  bury: ["=", "dead", "dead", "dead", "dead", "=", "=", "=", "="],
  stall: ["=", "=", "stalled", "=", "=", "=", "=", "=", "="],
  cancel: ["cancelled", "cancelled", "running", "cancelled", "cancelled", "!", "!", "!", "!"],
  "drop-delivery": ["=", "=", "=", "=", "=", "=", "=", "=", "="],
  "recover-overdue": ["=", "=", "=", "=", "=", "=", "=", "=", "="],
  "recover-failed": ["=", "=", "=", "=", "=", "=", "=", "=", "="],
  "reply-claim": ["!", "!", "!", "!", "!", "succeeded", "failed", "dead", "cancelled"],
  "reply-sent": ["=", "=", "=", "=", "=", "=", "=", "=", "="],
  "reply-release": ["=", "=", "=", "=", "=", "=", "=", "=", "="],
  retry: ["!", "!", "!", "!", "!", "!", "queued", "queued", "queued"],
  discard: ["!", "!", "!", "!", "!", "!", "!", "dead", "!"],
  enqueue: ["queued", "=", "=", "=", "=", "=", "=", "=", "="],
  "undo-retry": ["=", "=", "=", "=", "=", "=", "=", "=", "="],
};

const describeResult = (t: Transition) => (t.kind === "next" ? t.record.status : t.kind === "unchanged" ? "=" : "!");

describe("the lifecycle table: every (status, event) pair", () => {
  for (const [type, row] of Object.entries(TABLE) as Array<[TaskEventType, readonly string[]]>) {
    test(`${type}`, () => {
      assert.equal(row.length, TASK_STATUSES.length);
      const got = TASK_STATUSES.map((status) => describeResult(transition(record(status), events[type])));
      assert.deepEqual(got, [...row], `${type}: ${TASK_STATUSES.map((s, i) => `${s}→${got[i]}`).join(", ")}`);
    });
  }
  test("covers every event type", () => {
    assert.deepEqual(Object.keys(TABLE).sort(), Object.keys(events).sort());
  });
});

describe("what the transitions write", () => {
  test("a start counts the attempt, names the worker and opens the attempt log", () => {
    const t = transition(record("queued"), events.start);
    assert.equal(t.kind, "next");
    if (t.kind !== "next") return;
    assert.equal(t.record.attempts, 1);
    assert.equal(t.record.worker, "w2");
    assert.equal(t.record.maxAttempts, 3);
    assert.deepEqual(t.record.attemptLog.at(-1), { attempt: 1, worker: "w2", startedAt: T1, outcome: "running" });
  });

  test("starting the attempt that is already recorded writes nothing", () => {
    assert.equal(transition(record("running"), { type: "start", attempt: HELD }).kind, "unchanged");
  });

  test("a start after an operator's cancel request cancels instead of running", () => {
    const t = transition(record("queued", { cancelRequested: true }), events.start);
    assert.ok(t.kind === "next" && t.record.status === "cancelled" && t.record.error === CANCELLED_BY_OPERATOR && t.record.finishedAt === T1);
  });

  test("a cancel of a waiting task a worker has claimed records the claimed attempt as running, to be stopped", () => {
    for (const status of ["queued", "retrying", "stalled"] as const) {
      const t = transition(record(status, { claim: FRESH }), events.cancel);
      assert.ok(t.kind === "next", status);
      if (t.kind !== "next") return;
      assert.equal(t.record.status, "running", status);
      assert.equal(t.record.cancelRequested, true);
      assert.equal(t.record.worker, "w2");
      assert.equal(t.record.startedAt, T1);
      assert.equal(t.record.claim, undefined, "a written record has no claim");
      // The claimed attempt's own end then settles it as that attempt.
      const ended = transition(t.record, { type: "succeed", attempt: FRESH, result: 1, at: T2 });
      assert.ok(ended.kind === "next" && ended.record.status === "succeeded" && ended.record.attempts === t.record.attempts);
    }
  });

  test("a claim whose attempt is already in the log (it ended: retrying, handed back) is no attempt under way", () => {
    const claimed = { ...FRESH, startedAt: T1 };
    const waited = record("retrying", { claim: claimed, attempts: 1, attemptLog: [{ attempt: 1, worker: "w2", startedAt: T1, finishedAt: T1, outcome: "error" }] });
    const t = transition(waited, events.cancel);
    assert.ok(t.kind === "next" && t.record.status === "cancelled" && t.record.attempts === 1, JSON.stringify(t));
  });

  test("a claim of an earlier run is not an attempt of this one: the cancel is a waiting task's", () => {
    const t = transition(record("queued", { run: 2, claim: FRESH }), events.cancel);
    assert.ok(t.kind === "next" && t.record.status === "cancelled" && t.record.attempts === 0);
  });

  test("an attempt that ends before it was recorded as running is started and settled in one write", () => {
    const t = transition(record("queued"), { type: "succeed", attempt: FRESH, result: 7, at: T2 });
    assert.ok(t.kind === "next");
    if (t.kind !== "next") return;
    assert.equal(t.record.status, "succeeded");
    assert.equal(t.record.attempts, 1);
    assert.equal(t.record.result, 7);
    assert.deepEqual(t.record.attemptLog, [{ attempt: 1, worker: "w2", startedAt: T1, outcome: "succeeded", finishedAt: T2 }]);
  });

  test("a settled attempt with no result records null, and progress 1", () => {
    const t = transition(record("running"), { type: "succeed", attempt: HELD, result: undefined, at: T1 });
    assert.ok(t.kind === "next" && t.record.result === null && t.record.progress === 1);
  });

  test("an attempt marked stalled (its worker only cut off) that then ends is the same attempt, not a second one", () => {
    const t = transition(record("stalled"), events.succeed);
    assert.ok(t.kind === "next");
    if (t.kind !== "next") return;
    assert.equal(t.record.attempts, 1);
    assert.deepEqual(t.record.attemptLog.map((a) => a.outcome), ["succeeded"]);
    assert.equal(transition(record("stalled"), { type: "start", attempt: HELD }).kind, "unchanged", "nor does recording it running start another");
  });

  test("handing a task back on shutdown does not count the attempt", () => {
    const t = transition(record("running"), events["hand-back"]);
    assert.ok(t.kind === "next" && t.record.attempts === 0 && t.record.attemptLog.at(-1)?.outcome === "requeued");
  });

  test("an interrupted attempt is closed as interrupted and the task waits again", () => {
    const t = transition(record("stalled"), events.interrupt);
    assert.ok(t.kind === "next" && t.record.status === "queued" && t.record.attemptLog.at(-1)?.outcome === "interrupted");
  });

  test("a retry later keeps the error and when the next attempt comes", () => {
    const t = transition(record("running"), events["retry-later"]);
    assert.ok(t.kind === "next" && t.record.nextAttemptAt === T2 && t.record.error === "boom" && t.record.attemptLog.at(-1)?.outcome === "error");
  });

  test("burying with the last attempt closes that attempt and clears the next attempt time", () => {
    const t = transition(record("running", { nextAttemptAt: T2 }), { type: "bury", reason: "Failed", at: T1, attempt: { ref: HELD, outcome: "timeout", error: "slow" } });
    assert.ok(t.kind === "next");
    if (t.kind !== "next") return;
    assert.equal(t.record.status, "dead");
    assert.equal(t.record.error, "Failed");
    assert.equal(t.record.nextAttemptAt, undefined);
    assert.deepEqual(t.record.attemptLog.at(-1), { attempt: 1, worker: "w1", startedAt: T0, outcome: "timeout", finishedAt: T1, error: "slow" });
  });

  test("burying a task whose cancel was asked for before its attempt was recorded cancels it instead", () => {
    const t = transition(record("queued", { cancelRequested: true }), { type: "bury", reason: "Failed", at: T1, attempt: { ref: FRESH, outcome: "error", error: "x" } });
    assert.ok(t.kind === "next" && t.record.status === "cancelled");
  });

  test("progress from another worker, or a stall of another worker's task, changes nothing", () => {
    assert.equal(transition(record("running"), { type: "progress", worker: "w2", run: 1, fraction: 1 }).kind, "unchanged");
    assert.equal(transition(record("running"), { type: "stall", worker: "w2" }).kind, "unchanged");
  });

  test("progress is clamped to 0..1, and a stalled task that reports runs again", () => {
    const t = transition(record("stalled"), { type: "progress", worker: "w1", run: 1, fraction: 7 });
    assert.ok(t.kind === "next" && t.record.status === "running" && t.record.progress === 1);
    const nan = transition(record("running"), { type: "progress", worker: "w1", run: 1, fraction: Number.NaN });
    assert.ok(nan.kind === "next" && nan.record.progress === 0);
  });

  test("cancelling a running task asks its worker once; asking again writes nothing", () => {
    const t = transition(record("running"), events.cancel);
    assert.ok(t.kind === "next" && t.record.status === "running" && t.record.cancelRequested === true);
    assert.equal(transition(record("running", { cancelRequested: true }), events.cancel).kind, "unchanged");
  });

  test("cancelling a stalled task finishes it and asks its worker, which may still run it, to stop", () => {
    const t = transition(record("stalled"), events.cancel);
    assert.ok(t.kind === "next" && t.record.status === "cancelled" && mustAbortWorker(t.record));
    const queued = transition(record("queued"), events.cancel);
    assert.ok(queued.kind === "next" && !mustAbortWorker(queued.record));
  });

  test("cancelling a waiting task finishes it at once and clears its next attempt time", () => {
    const t = transition(record("retrying", { nextAttemptAt: T2 }), events.cancel);
    assert.ok(t.kind === "next" && t.record.error === CANCELLED_BY_OPERATOR && t.record.finishedAt === T1 && t.record.nextAttemptAt === undefined);
  });

  test("a task cancelled while its message waits is kept from retention until a worker drops that message", () => {
    const t = transition(record("queued"), events.cancel);
    assert.ok(t.kind === "next" && t.record.awaitingDelivery === true && !isRetainedHistory(t.record));
    if (t.kind !== "next") return;
    const dropped = transition(t.record, events["drop-delivery"]);
    assert.ok(dropped.kind === "next" && dropped.record.awaitingDelivery === undefined && isRetainedHistory(dropped.record));
    const retried = transition(t.record, events.retry);
    assert.ok(retried.kind === "next" && retried.record.awaitingDelivery === undefined);
  });

  test("a reply is claimed once: sent or freshly claimed elsewhere means no second claim; a stale claim is taken over", () => {
    const claim = transition(record("failed"), events["reply-claim"]);
    assert.ok(claim.kind === "next" && claim.record.reply?.state === "sending" && claim.record.reply.at === T2);
    if (claim.kind !== "next") return;
    // Another delivery claiming in the same millisecond: the claim stays the first one's, and only it holds it.
    assert.equal(transition(claim.record, { type: "reply-claim", at: T2, staleBefore: T1, claim: "c2" }).kind, "unchanged", "a fresh claim by another delivery");
    assert.equal(holdsReply(claim.record, "c1"), true);
    assert.equal(holdsReply(claim.record, "c2"), false, "a claim made in the same millisecond is not the holder's");
    assert.equal(transition(claim.record, { type: "reply-sent", claim: "c2", at: T2 }).kind, "unchanged", "nor can it mark the reply sent");
    const takeover = transition(claim.record, { type: "reply-claim", at: "2026-01-01T00:01:00.000Z", staleBefore: "2026-01-01T00:00:30.000Z", claim: "c3" });
    assert.ok(takeover.kind === "next" && takeover.record.reply?.at === "2026-01-01T00:01:00.000Z", "an abandoned claim");
    const sent = transition(claim.record, events["reply-sent"]);
    assert.ok(sent.kind === "next" && sent.record.reply?.state === "sent");
    if (sent.kind !== "next") return;
    assert.equal(transition(sent.record, { type: "reply-claim", at: "2026-01-02T00:00:00.000Z", staleBefore: "2026-01-02T00:00:00.000Z", claim: "c4" }).kind, "unchanged", "sent is final");
    assert.equal(transition(claim.record, { type: "reply-sent", claim: "other", at: T2 }).kind, "unchanged", "only the claimer confirms");
    const released = transition(claim.record, events["reply-release"]);
    assert.ok(released.kind === "next" && released.record.reply === undefined);
    const retried = transition(sent.record, events.retry);
    assert.ok(retried.kind === "next" && retried.record.reply === undefined, "a retried task owes a new reply");
  });

  test("a retry starts the next run; attempts and progress of the earlier run change nothing", () => {
    const retried = transition(record("cancelled"), events.retry);
    assert.ok(retried.kind === "next" && retried.record.run === 2);
    if (retried.kind !== "next") return;
    for (const event of [events.start, events.succeed, events.fail, events["retry-later"], { type: "progress", worker: "w1", run: 1, fraction: 1 } as TaskEvent]) {
      assert.equal(transition(retried.record, event).kind, "unchanged", event.type);
    }
    const started = transition(retried.record, { type: "start", attempt: { ...FRESH, run: 2 } });
    assert.ok(started.kind === "next" && started.record.status === "running");
    const again = transition({ ...retried.record, status: "dead" }, events.retry);
    assert.ok(again.kind === "next" && again.record.run === 3);
  });

  test("a retrying task long past its next attempt is queued again as a new run; one not yet due is left alone", () => {
    const overdue = transition(record("retrying", { nextAttemptAt: T0 }), events["recover-overdue"]);
    assert.ok(overdue.kind === "next" && overdue.record.status === "queued" && overdue.record.run === 2 && overdue.record.nextAttemptAt === undefined && overdue.record.attempts === 1);
    assert.equal(transition(record("retrying", { nextAttemptAt: T2 }), events["recover-overdue"]).kind, "unchanged");
    if (overdue.kind !== "next") return;
    const failed = transition(overdue.record, { type: "recover-failed", run: 2, nextAttemptAt: T0 });
    assert.ok(failed.kind === "next" && failed.record.status === "retrying" && failed.record.run === 1 && failed.record.nextAttemptAt === T0);
  });

  test("a refusal says what the status allows", () => {
    const cancel = transition(record("succeeded"), events.cancel);
    assert.ok(cancel.kind === "refused" && /is succeeded; only scheduled, queued, running, retrying or stalled tasks can be cancelled/.test(cancel.reason));
    const retry = transition(record("running"), events.retry);
    assert.ok(retry.kind === "refused" && /is running; only dead, failed or cancelled tasks can be retried/.test(retry.reason));
    const discard = transition(record("failed"), events.discard);
    assert.ok(discard.kind === "refused" && /is failed; only dead tasks can be discarded/.test(discard.reason));
    const again = transition(record("dead", { discardedAt: T0 }), events.discard);
    assert.ok(again.kind === "refused" && /already discarded/.test(again.reason));
  });

  test("a retry starts over: fresh attempts, no result or error, the new payload, and not discarded", () => {
    const t = transition(record("dead", { error: "x", result: 1, discardedAt: T0, cancelRequested: true, nextAttemptAt: T2 }), events.retry);
    assert.ok(t.kind === "next");
    if (t.kind !== "next") return;
    assert.deepEqual(
      { status: t.record.status, attempts: t.record.attempts, progress: t.record.progress, payload: t.record.payload, retriedAt: t.record.retriedAt },
      { status: "queued", attempts: 0, progress: 0, payload: { a: 2 }, retriedAt: T1 },
    );
    for (const field of ["error", "result", "finishedAt", "nextAttemptAt", "cancelRequested", "discardedAt"] as const) assert.equal(t.record[field], undefined, field);
  });

  test("undoing a retry restores the record as it was, only while that retry is still what is stored", () => {
    const before = record("failed", { error: "kept" });
    const retried = { ...record("queued", { retriedAt: T1 }), version: 9 };
    const t = transition(retried, { type: "undo-retry", before, retriedAt: T1 });
    assert.ok(t.kind === "next" && t.record.status === "failed" && t.record.error === "kept" && t.record.version === 9);
    assert.equal(transition(retried, { type: "undo-retry", before, retriedAt: T2 }).kind, "unchanged");
  });

  test("discarding keeps the task dead and takes it off the dead-letter list", () => {
    const t = transition(record("dead"), events.discard);
    assert.ok(t.kind === "next" && t.record.status === "dead" && t.record.discardedAt === T1 && !isDeadLetter(t.record));
  });

  test("transitions never change the record they are given", () => {
    const running = record("running");
    const copy = structuredClone(running);
    for (const event of Object.values(events)) transition(running, event);
    assert.deepEqual(running, copy);
  });
});

describe("what a status allows", () => {
  test("the dashboard's actions follow the same rules as the server", () => {
    assert.deepEqual(TASK_STATUSES.filter((s) => canCancel(record(s))), ["scheduled", "queued", "running", "retrying", "stalled"]);
    assert.equal(canCancel(record("running", { cancelRequested: true })), false);
    assert.deepEqual(TASK_STATUSES.filter((s) => canRetry(record(s))), ["failed", "dead", "cancelled"]);
    assert.deepEqual(TASK_STATUSES.filter((s) => canDiscard(record(s))), ["dead"]);
  });

  test("finished records count towards retained history, except dead letters awaiting an operator", () => {
    assert.deepEqual(TASK_STATUSES.filter((s) => isRetainedHistory(record(s))), ["succeeded", "failed", "cancelled"]);
    assert.ok(isRetainedHistory(record("dead", { discardedAt: T0 })));
  });
});

describe("a scheduled task", () => {
  const scheduled = newTaskRecord({ type: "submit", id: "t1", taskType: "echo", payload: {}, priority: 3, at: T0, runAt: T2 });

  test("is recorded scheduled with its runAt, and queued only once its time has come", () => {
    assert.equal(scheduled.status, "scheduled");
    assert.equal(scheduled.runAt, T2);
    assert.equal(transition(scheduled, { type: "enqueue", at: T1 }).kind, "unchanged", "not before runAt");
    const due = transition(scheduled, { type: "enqueue", at: T2 });
    assert.ok(due.kind === "next" && due.record.status === "queued" && due.record.runAt === T2 && due.record.priority === 3);
  });

  test("is cancelled at once, with nothing left to drop from a queue", () => {
    const t = transition(scheduled, events.cancel);
    assert.ok(t.kind === "next" && t.record.status === "cancelled" && t.record.error === CANCELLED_BY_OPERATOR);
    if (t.kind !== "next") return;
    assert.equal(t.record.awaitingDelivery, undefined);
    assert.ok(isRetainedHistory(t.record));
    assert.equal(transition(t.record, { type: "enqueue", at: T2 }).kind, "unchanged", "a cancelled task is never queued");
  });

  test("an operator's retry of it runs now: the runAt of the earlier run goes", () => {
    const cancelled = transition(scheduled, events.cancel);
    assert.ok(cancelled.kind === "next");
    if (cancelled.kind !== "next") return;
    const retried = transition(cancelled.record, events.retry);
    assert.ok(retried.kind === "next" && retried.record.status === "queued" && retried.record.runAt === undefined);
  });
});

describe("attemptToStart", () => {
  test("answers what the start transition's record says, for every status, run and claim", () => {
    const refs: AttemptRef[] = [HELD, FRESH, { ...FRESH, run: 2 }];
    const extras: Array<Partial<TaskRecord>> = [{}, { cancelRequested: true }, { run: 2 }, { attempts: 2 }];
    let running = 0;
    let none = 0;
    for (const status of TASK_STATUSES) {
      for (const extra of extras) {
        const current = record(status, extra);
        for (const ref of refs) {
          const made = transition(current, { type: "start", attempt: ref });
          const expected = made.kind === "next" && made.record.status === "running" ? made.record.attempts : undefined;
          assert.equal(attemptToStart(current, ref), expected, `${status} ${JSON.stringify(extra)} ${ref.worker} run ${ref.run}`);
          if (expected === undefined) none++;
          else running++;
        }
      }
    }
    // Both answers occur, so the comparison covers each.
    assert.ok(running > 0 && none > 0);
  });
});
