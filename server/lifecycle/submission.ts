// The one way a task enters the queue from a web node, whatever the transport (HTTP or Socket.IO): one
// set of rules for who may submit, how big a task may be, what it must look like, idempotency and audit.
import { hash as digest, randomUUID } from "node:crypto";
import { MAX_BATCH_BODY_BYTES, MAX_BATCH_TASKS, MAX_BODY_BYTES, MAX_IDEMPOTENCY_KEY_LENGTH, scheduledRunAt, SubmitBatchSchema, SubmitTaskSchema, type Payload, type SubmitTask, type TaskRecord } from "../../lib/contract";
import { newTaskRecord } from "../../lib/task-lifecycle";
import { describeZodError } from "../../lib/zod-message";
import type { AuditLog } from "../audit/audit-log";
import { withDeadline } from "../deadline";
import { AppError, conflict, invalidInput, messageOf, notFound, tooLarge, unavailable } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { AmqpConnection } from "../queue/amqp";
import { redisCall, withinDeadline } from "../redis/connect";
import { CONFIRM_TIMEOUT_MS, ConfirmLost, ConfirmTimeout, withConfirmTimeout, type ConfirmPublisher } from "../queue/publisher";
import type { TaskRoutes } from "../store/task-routes";
import { hash, type ClaimState, type IdempotencyKeys } from "../store/idempotency";
import type { PublishOutbox } from "../store/publish-outbox";
import type { TaskStore } from "../store/task-store";
import { assertOperator, type Actor } from "./actor";

/** The shape of a task, for error messages. */
const TASK_SHAPE = `{"type": string, "payload"?: object, "priority"?: 0-9, "runAt"?: ISO time or "delayMs"?: milliseconds (at most 30 days ahead)}`;

/** What a refused submission tells the client when Redis does not answer. */
const NOTHING_CHANGED = "nothing was queued, try again";

/** A replay of a key whose first request still waits for its confirm waits this long (rounds × ms) before 409. */
const REPLAY_WAIT_ROUNDS = 30;
const REPLAY_WAIT_MS = 100;
/**
 * How often, and how many times, a refused submission's writes are undone while Redis does not answer: once a
 * second for 15 minutes, so an outage that long leaves no record of a task that was never queued.
 */
const UNDO_EVERY_MS = 1000;
const UNDO_TRIES = 900;

export interface SubmissionDeps {
  store: TaskStore;
  publisher: ConfirmPublisher;
  /** Marks the tasks being published, so a node that dies before RabbitMQ took a message leaves it to be published again. */
  outbox: Pick<PublishOutbox, "mark" | "release" | "clear">;
  idempotency: IdempotencyKeys;
  /** Checks a type and says which queue its tasks go to (built in, or an outside worker's). */
  routes: Pick<TaskRoutes, "forSubmission" | "forSubmissions">;
  amqp: () => AmqpConnection;
  /** Redis's clock (ms): a delay is counted, and a runAt checked, against the clock the mover queues by. */
  now: () => Promise<number>;
  audit: AuditLog;
  live: LiveEvents;
  log: Logger;
}

export interface SubmitRequest {
  /** The task as sent: `{type, payload?, priority?, runAt? | delayMs?}`, checked here. */
  input: unknown;
  /** A repeated key within 24 hours returns the task the first request made. */
  idempotencyKey?: string;
  actor: Actor;
  /** The recurring schedule and tick (ISO time) that queue this task: set by the scheduler, never from a client's input. */
  schedule?: { name: string; tick: string };
  /**
   * The task's id, set by the scheduler (derived from the tick), never from a client's input. A record with this id
   * existing already means this task was submitted: it is answered as a replay, nothing is queued again.
   */
  taskId?: string;
}

export interface Submitted {
  record: TaskRecord;
  /** True when an earlier request with the same Idempotency-Key made this task. */
  replayed: boolean;
}

export interface SubmittedBatch {
  /** The batch's tasks, in the order sent. */
  records: Array<Pick<TaskRecord, "id" | "status">>;
  /** True when an earlier request with the same Idempotency-Key made this batch. */
  replayed: boolean;
}

/** A task of a batch, checked: what its record and message are made from. */
interface BatchTask {
  type: string;
  payload: Record<string, unknown>;
  priority: number;
  /** The queue its type goes to. */
  queue: string;
  /** When it runs, if later (ISO). */
  runAt?: string;
  /** What the Idempotency-Key fingerprint covers of its timing: the fields as sent. */
  delay?: { runAt?: string; delayMs?: number };
}

export class TaskSubmission {
  constructor(private readonly deps: SubmissionDeps) {}

  /** Resolves once RabbitMQ has confirmed the message; never accepts a task it could not queue. */
  async submit({ input, idempotencyKey, actor, schedule, taskId }: SubmitRequest): Promise<Submitted> {
    assertOperator(actor, "submit tasks");
    const bytes = Buffer.byteLength(JSON.stringify(input) ?? "");
    if (bytes > MAX_BODY_BYTES) throw tooLarge(`The task is ${bytes} bytes as JSON; the limit is ${MAX_BODY_BYTES} bytes. Nothing was queued.`);
    const parsed = SubmitTaskSchema.safeParse(input);
    if (!parsed.success) throw invalidInput(`Invalid task: ${describeZodError(parsed.error)}. Send ${TASK_SHAPE}.`);
    const { type, payload = {}, priority = 0 } = parsed.data;
    const when = scheduledRunAt(parsed.data, wantsDelay(parsed.data) ? await redisCall(() => this.deps.now(), NOTHING_CHANGED) : 0);
    if (!when.ok) throw invalidInput(`Invalid task: ${when.error}. Send ${TASK_SHAPE}.`);
    const { runAt } = when;
    const route = await redisCall(() => this.deps.routes.forSubmission(type, payload), NOTHING_CHANGED);
    if (!route.ok) throw invalidInput(route.error);
    const key = scopedKey(idempotencyKey, actor);
    // Refuse at once while RabbitMQ is down rather than record a task that cannot be queued (a scheduled task
    // needs only Redis until its time).
    if (runAt === undefined) this.deps.amqp().current();

    const id = taskId ?? randomUUID();
    if (key !== undefined) {
      const fingerprint = hash(JSON.stringify([type, payload, priority, ...delayOf(parsed.data)]));
      // A claim that timed out may still land: its undo is queued behind it.
      const claim = await redisCall(() => this.deps.idempotency.reserve(key, fingerprint, id), NOTHING_CHANGED).catch((err: unknown) => {
        this.undo(() => this.deps.idempotency.release(key, id));
        throw err;
      });
      if (!claim.reserved) {
        if (!claim.sameRequest) throw new AppError(422, "idempotency_key_reused", "This Idempotency-Key was already used for a different task in the last 24 hours; use a new key for a new task.");
        return { record: await this.replay(key, claim.taskId, claim.state), replayed: true };
      }
    }

    let record = newTaskRecord({ type: "submit", id, taskType: type, payload, priority, at: new Date().toISOString(), runAt, schedule });
    try {
      // The record exists before the message, so a worker always finds it; a task to queue now is marked as being
      // published first (the mark goes before the record on the same connection). A create that timed out may
      // still run when Redis answers again: the removal, queued behind it on the same connection, undoes it.
      const publishing = runAt === undefined ? [id] : [];
      const created = await redisCall(() => this.createMarked([record], publishing), NOTHING_CHANGED)
        .then(([stored]) => stored)
        .catch((err: unknown) => {
          this.discard([id]);
          throw err;
        });
      // The create is atomic "must not exist": a given id already stored was submitted before; queue nothing again.
      if (!created && taskId !== undefined) {
        // Its mark stays: it is also the first submission's, which may not have published yet. This node stops
        // stamping it; the mover drops it once the task is taken (or publishes the message again if it never was).
        this.deps.outbox.release(publishing);
        if (key !== undefined) this.undo(() => this.deps.idempotency.release(key, id));
        return { record: (await redisCall(() => this.deps.store.get(id))) ?? record, replayed: true };
      }
      record = created ?? record;
    } catch (err) {
      if (key !== undefined) this.undo(() => this.deps.idempotency.release(key, id));
      throw err;
    }
    if (runAt === undefined) await this.publish(record, route.queue, key);
    else if (key !== undefined) {
      // Scheduled: stored is accepted (a web node queues it at runAt).
      const confirmKey = () => this.deps.idempotency.confirm(key, id);
      await redisCall(confirmKey).catch(() => this.undo(confirmKey));
    }
    this.announce(record, runAt === undefined ? "task queued" : "task scheduled");
    // A person's submission is audited; services' (tokens, the loopback API) are the queue's ordinary traffic.
    if (actor.principal.kind === "user") {
      void this.deps.audit.record({ action: "task.submit", actor: actor.principal, target: id, detail: `type ${type}, priority ${priority}${runAt === undefined ? "" : `, runs at ${runAt}`}`, ip: actor.ip, via: actor.via });
    }
    return { record, replayed: false };
  }

  /**
   * Publishes the task and waits for RabbitMQ's confirm, at most CONFIRM_TIMEOUT_MS. A refusal undoes the record
   * and the key: nothing was queued. Past the timeout RabbitMQ may still queue the message (a blocked connection
   * holds it), so the task stays tracked: the request answers 503 saying so, its record stays, its key stays
   * pending, and the confirm, whenever it comes, confirms the key (a retry with it then replays this task) or
   * the refusal undoes both.
   */
  private async publish(record: TaskRecord, queue: string, key: string | undefined): Promise<void> {
    const { id, type, payload, priority } = record;
    const confirmed = this.deps.publisher.sendTask({ id, type, payload: payload as Payload }, priority, 1, queue);
    const confirmKey = () => (key === undefined ? Promise.resolve() : this.deps.idempotency.confirm(key, id));
    // Confirmed: the task no longer waits to be published (a refusal's forget removes the record, then the mark).
    void confirmed.then(
      () => this.cleared([id]),
      () => undefined,
    );
    try {
      await withConfirmTimeout(confirmed, () => new ConfirmTimeout(`RabbitMQ did not confirm the task in ${CONFIRM_TIMEOUT_MS / 1000} s, so it is not accepted yet; it may still be queued. Task ${id} stays tracked: ${key === undefined ? "look it up before submitting again" : "retry with the same Idempotency-Key to learn its fate"}.`));
    } catch (err) {
      if (!(err instanceof ConfirmTimeout)) {
        this.forget(id, key);
        // Its fate unknown: if RabbitMQ queued it after all, a worker runs it and records it under this id.
        if (err instanceof ConfirmLost) throw unavailable(`RabbitMQ's channel closed before it confirmed the task, so it may have been queued or not: if it was, it runs as task ${id}. Look that task up before submitting it again.`, err);
        throw err;
      }
      if (key !== undefined) this.undo(() => this.deps.idempotency.extend(key, id));
      confirmed.then(
        () => {
          this.undo(confirmKey);
          this.announce(record, "task confirmed after its request timed out");
        },
        () => {
          this.forget(id, key);
          this.deps.log.warn({ taskId: id }, "task refused by RabbitMQ after its request timed out; its record and key are removed");
        },
      );
      throw err;
    }
    await redisCall(confirmKey).catch(() => this.undo(confirmKey));
  }

  /** Stores a new record: a scheduled one with its entry in the schedule. */
  private create(record: TaskRecord): Promise<TaskRecord | undefined> {
    return record.status === "scheduled" ? this.deps.store.createScheduled(record) : this.deps.store.create(record);
  }

  /**
   * Stores new records, `publishing` (the ids of those to queue now) marked as being published first: issued in
   * one tick, the mark leaves at once (the command client auto-pipelines) and the creates follow on the same
   * connection as batched script calls (TaskStore), so Redis stores the marks before any of the records.
   */
  private async createMarked(records: TaskRecord[], publishing: string[]): Promise<Array<TaskRecord | undefined>> {
    const [, ...created] = await Promise.all([this.deps.outbox.mark(publishing), ...records.map((r) => this.create(r))]);
    return created;
  }

  /** RabbitMQ confirmed these tasks: their marks go, retried if Redis does not answer. */
  private cleared(ids: string[]): void {
    if (ids.length > 0) this.undo(() => this.deps.outbox.clear(ids));
  }

  /** Tasks not queued after all: their records go, then their marks (never a record waiting without its mark). */
  private discard(ids: string[]): void {
    this.deps.outbox.release(ids);
    this.undo(async () => {
      await Promise.all(ids.map((id) => this.deps.store.remove(id)));
      await this.deps.outbox.clear(ids);
    });
  }

  /** Removes what a submission RabbitMQ did not take wrote: its record (then its mark), and its claim on the key. */
  private forget(id: string, key: string | undefined): void {
    this.discard([id]);
    if (key !== undefined) this.undo(() => this.deps.idempotency.release(key, id));
  }

  /**
   * A repeated Idempotency-Key: the task the first request made, once RabbitMQ has confirmed it. While that
   * request still waits for its confirm, this one waits a moment too, then answers 409.
   */
  private async replay(key: string, taskId: string, state: ClaimState): Promise<TaskRecord> {
    await this.untilConfirmed(key, taskId, state, "task");
    const record = await redisCall(() => this.deps.store.get(taskId));
    if (!record) throw notFound(`The task this Idempotency-Key made (${taskId}) is no longer in the history.`);
    return record;
  }

  /** Waits (a moment at most) for a pending claim on `key` to be confirmed; 409 if it is not. */
  private async untilConfirmed(key: string, taskId: string, state: ClaimState, what: "task" | "batch"): Promise<void> {
    for (let i = 0; state === "pending" && i < REPLAY_WAIT_ROUNDS; i++) {
      await new Promise((r) => setTimeout(r, REPLAY_WAIT_MS));
      const now = await redisCall(() => this.deps.idempotency.state(key, taskId));
      if (now === undefined) throw conflict(`The first request with this Idempotency-Key was not accepted; send the ${what} again with the same key.`);
      state = now;
    }
    if (state === "pending") throw conflict("A request with this Idempotency-Key is still waiting for RabbitMQ's confirm; try again shortly.");
    if (state === "partial") {
      throw conflict(
        "The batch first sent with this Idempotency-Key was only partly queued: RabbitMQ refused some of its tasks (that request's answer named them) and queued the others, which run. This key will not queue anything again; send the refused tasks under a new key.",
      );
    }
  }

  /**
   * A batch of 1 to MAX_BATCH_TASKS tasks: checked as a whole (nothing is queued if any task is invalid), the
   * records written in a few script calls, every message published before waiting once for all of RabbitMQ's
   * confirms. One Idempotency-Key covers the batch, and a person's batch is one audit entry. Resolves with the
   * tasks in the order sent once RabbitMQ confirmed every message.
   */
  async submitBatch({ input, idempotencyKey, actor }: SubmitRequest): Promise<SubmittedBatch> {
    assertOperator(actor, "submit tasks");
    const bytes = Buffer.byteLength(JSON.stringify(input) ?? "");
    if (bytes > MAX_BATCH_BODY_BYTES) throw tooLarge(`The batch is ${bytes} bytes as JSON; the limit is ${MAX_BATCH_BODY_BYTES} bytes. Nothing was queued; split it.`);
    const tasks = await checkBatch(input, bytes, this.deps.routes, this.deps.now);
    const key = scopedKey(idempotencyKey, actor);
    // As for one task: refused at once while RabbitMQ is down, unless every task is scheduled (stored in Redis only).
    if (tasks.some((t) => t.runAt === undefined)) this.deps.amqp().current();

    // Under an Idempotency-Key the tasks' ids derive from the batch's: a replayed key gives back the same ids without storing them.
    const batchId = randomUUID();
    if (key !== undefined) {
      const fingerprint = hash(JSON.stringify(["batch", tasks.map((t) => [t.type, t.payload, t.priority, ...(t.delay ? [t.delay] : [])])]));
      const claim = await redisCall(() => this.deps.idempotency.reserve(key, fingerprint, batchId), NOTHING_CHANGED).catch((err: unknown) => {
        this.undo(() => this.deps.idempotency.release(key, batchId));
        throw err;
      });
      if (!claim.reserved) {
        if (!claim.sameRequest) throw new AppError(422, "idempotency_key_reused", "This Idempotency-Key was already used for a different request in the last 24 hours; use a new key for a new batch.");
        await this.untilConfirmed(key, claim.taskId, claim.state, "batch");
        return { records: tasks.map((t, i) => ({ id: batchTaskId(claim.taskId, i), status: t.runAt === undefined ? "queued" : "scheduled" })), replayed: true };
      }
    }

    const at = new Date().toISOString();
    // Without a key nothing replays the batch: a random id costs about a tenth of a derived one (a hash).
    const idOf = key === undefined ? () => randomUUID() : (i: number) => batchTaskId(batchId, i);
    const records = tasks.map(({ type, payload, priority, runAt }, i) => newTaskRecord({ type: "submit", id: idOf(i), taskType: type, payload, priority, at, runAt }));
    const ids = records.map((r) => r.id);
    const publishing = records.filter((r) => r.status !== "scheduled").map((r) => r.id);
    try {
      // The mark of the tasks to queue now, then the creates, in one turn (see createMarked).
      const created = await redisCall(() => this.createMarked(records, publishing), NOTHING_CHANGED).catch((err: unknown) => {
        this.discard(ids);
        throw err;
      });
      created.forEach((stored, i) => (records[i] = stored ?? records[i]));
    } catch (err) {
      if (key !== undefined) this.undo(() => this.deps.idempotency.release(key, batchId));
      throw err;
    }
    // Scheduled tasks are accepted once stored; the others once RabbitMQ confirmed them.
    const now = records.flatMap((r, i) => (r.status === "scheduled" ? [] : [i]));
    if (now.length > 0) await this.publishBatch(now.map((i) => records[i]), now.map((i) => tasks[i]), key, batchId, { indexes: now, total: records.length });
    else if (key !== undefined) {
      const confirmKey = () => this.deps.idempotency.confirm(key, batchId);
      await redisCall(confirmKey).catch(() => this.undo(confirmKey));
    }
    // One line for the batch; a line per task only at debug (a line each cost a tenth of the web node's CPU per task).
    for (const record of records) this.announce(record, "task queued", "debug");
    this.deps.log.info({ batch: batchId, tasks: records.length, first: ids[0], last: ids.at(-1) }, "batch queued");
    if (actor.principal.kind === "user") {
      void this.deps.audit.record({ action: "task.submit_batch", actor: actor.principal, target: ids[0], detail: batchDetail(tasks, ids), ip: actor.ip, via: actor.via });
    }
    return { records: records.map(({ id, status }) => ({ id, status })), replayed: false };
  }

  /**
   * Publishes every message of a batch, then waits once, at most CONFIRM_TIMEOUT_MS, for all the confirms. As
   * for one task: past the timeout every task stays tracked (503, key pending, settled when RabbitMQ answers);
   * a refused message's record is removed. If RabbitMQ refuses some messages and confirms others, the
   * confirmed tasks run and stay tracked, and the key is spent for 24 hours (a replay answers 409 saying the
   * batch was partly queued), so they are never queued twice.
   */
  private async publishBatch(records: TaskRecord[], tasks: BatchTask[], key: string | undefined, batchId: string, batch: { indexes: number[]; total: number }): Promise<void> {
    const outcomes = Promise.allSettled(records.map(({ id, type, payload, priority }, i) => this.deps.publisher.sendTask({ id, type, payload: payload as Payload }, priority, 1, tasks[i].queue)));
    // Once RabbitMQ answered for every message, the confirmed ones no longer wait to be published (settleBatch
    // removes the refused ones' records, then their marks).
    void outcomes.then((settled) => this.cleared(records.filter((_, i) => settled[i].status === "fulfilled").map((r) => r.id)));
    let results: Array<PromiseSettledResult<void>>;
    try {
      results = await withDeadline(
        outcomes,
        CONFIRM_TIMEOUT_MS,
        () =>
          new ConfirmTimeout(
            `RabbitMQ did not confirm all ${records.length} tasks in ${CONFIRM_TIMEOUT_MS / 1000} s, so the batch is not accepted yet; its tasks may still be queued and stay tracked (ids ${records[0].id} to ${records.at(-1)!.id}): ${key === undefined ? "look them up before submitting again" : "retry with the same Idempotency-Key to learn their fate"}.`,
          ),
      );
    } catch (err) {
      if (key !== undefined) this.undo(() => this.deps.idempotency.extend(key, batchId));
      void outcomes.then(async (late) => {
        const refused = await this.settleBatch(records, late, key, batchId, batch.total);
        for (const [i, record] of records.entries()) if (late[i].status === "fulfilled") this.announce(record, "task confirmed after its request timed out");
        this.deps.log[refused > 0 ? "warn" : "info"]({ batch: batchId, tasks: records.length, refused }, "batch settled by RabbitMQ after its request timed out");
      });
      throw err;
    }
    const refused = await this.settleBatch(records, results, key, batchId, batch.total);
    if (refused === 0) return;
    for (const [i, record] of records.entries()) if (results[i].status === "fulfilled") this.announce(record, "task queued");
    const firstReason = results.find((r): r is PromiseRejectedResult => r.status === "rejected")?.reason;
    const indexes = results.flatMap((r, i) => (r.status === "rejected" ? [batch.indexes[i]] : []));
    // A confirm lost with its channel is no refusal: RabbitMQ may have queued those (see ConfirmLost).
    const lost = results.flatMap((r, i) => (r.status === "rejected" && r.reason instanceof ConfirmLost ? [`${batch.indexes[i]} (${records[i].id})`] : []));
    const lostNote = lost.length === 0 ? "" : ` Of those, RabbitMQ's channel closed before it confirmed ${lost.length}, so they may have been queued after all and then run under their ids (index and id: ${lost.join(", ")}); look them up before sending them again.`;
    if (refused === batch.total) throw unavailable(`RabbitMQ ${lost.length === 0 ? "refused the batch; nothing was queued. Try again." : "did not take the batch; none of it is tracked."}${lostNote}`, firstReason);
    throw unavailable(
      `RabbitMQ refused ${refused} of ${batch.total} tasks (indexes ${indexes.join(", ")}): those were not queued and their records are removed.${lostNote} The other ${batch.total - refused} were ${batch.total > records.length ? "queued or scheduled" : "queued"} and will run.${key === undefined ? "" : " This Idempotency-Key is spent for 24 hours (a retry with it answers 409), so they are never queued twice; send the refused tasks again under a new key."}`,
    );
  }

  /**
   * Settles a batch once RabbitMQ answered for every message: refused tasks' records go; the key is confirmed
   * (all taken), released (none taken), or kept pending (some taken). Returns how many were refused.
   */
  private async settleBatch(records: TaskRecord[], results: Array<PromiseSettledResult<void>>, key: string | undefined, batchId: string, total: number): Promise<number> {
    const refusedIds = records.filter((_, i) => results[i].status === "rejected").map((r) => r.id);
    if (refusedIds.length > 0) this.discard(refusedIds);
    if (key === undefined) return refusedIds.length;
    if (refusedIds.length === 0) {
      const confirmKey = () => this.deps.idempotency.confirm(key, batchId);
      await redisCall(confirmKey).catch(() => this.undo(confirmKey));
    } else if (refusedIds.length === total) this.undo(() => this.deps.idempotency.release(key, batchId));
    else this.undo(() => this.deps.idempotency.partial(key, batchId));
    return refusedIds.length;
  }

  /** A task RabbitMQ confirmed: every tab sees it, the metrics count it. */
  private announce(record: TaskRecord, what: string, level: "info" | "debug" = "info"): void {
    this.deps.log[level]({ taskId: record.id, type: record.type, priority: record.priority }, what);
    this.deps.live.emit("task:changed", record);
    this.deps.live.emit("task:submitted", record);
  }

  /**
   * Undoes what a refused submission may have written (its record, its Idempotency-Key). Redis may not be
   * answering right now, and a write that timed out may still land: the undo is tried until it succeeds, once a
   * second for UNDO_TRIES seconds at most, without holding up the 503.
   */
  private undo(step: () => Promise<unknown>, tries = UNDO_TRIES): void {
    // A step can hang while the client reconnects (a MULTI waits for the connection): give each try a deadline.
    Promise.resolve().then(() => withinDeadline(step())).catch((err: unknown) => {
      if (tries > 1) setTimeout(() => this.undo(step, tries - 1), UNDO_EVERY_MS).unref();
      else this.deps.log.warn({ err: messageOf(err) }, "could not undo a refused submission's writes in Redis");
    });
  }

}

/** The timing fields a task was sent with, for its Idempotency-Key fingerprint (none: the fingerprint of before). */
const wantsDelay = (task: SubmitTask) => task.runAt !== undefined || task.delayMs !== undefined;

function delayOf(task: SubmitTask): Array<{ runAt?: string; delayMs?: number }> {
  if (task.runAt === undefined && task.delayMs === undefined) return [];
  return [{ runAt: task.runAt, delayMs: task.delayMs }];
}

/**
 * Checks an Idempotency-Key and scopes it to the client that sent it (user or token), so two clients that
 * happen to choose the same key never see each other's tasks, nor block each other's requests.
 */
function scopedKey(key: string | undefined, actor: Actor): string | undefined {
  if (key === undefined) return undefined;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalidInput(`Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`);
  }
  return JSON.stringify([actor.principal.kind, actor.principal.name, key]);
}

/**
 * Checks a whole batch: every invalid task is named by its index and problem in one 400, or none is. `bytes` is
 * the batch's size as JSON: while it is within MAX_BODY_BYTES no task can exceed that limit alone.
 */
async function checkBatch(input: unknown, bytes: number, routes: Pick<TaskRoutes, "forSubmissions">, now: () => Promise<number>): Promise<BatchTask[]> {
  const usage = `Send {"tasks": [${TASK_SHAPE}, ...]} with 1 to ${MAX_BATCH_TASKS} tasks.`;
  const parsed = SubmitBatchSchema.safeParse(input);
  const problems = new Map<number, string[]>();
  const note = (index: number, problem: string) => problems.set(index, [...(problems.get(index) ?? []), problem]);
  if (!parsed.success) {
    const general: string[] = [];
    for (const issue of parsed.error.issues) {
      const [field, index, ...rest] = issue.path;
      if (field === "tasks" && typeof index === "number") note(index, rest.length > 0 ? `${rest.join(".")}: ${issue.message}` : issue.message);
      else general.push(issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message);
    }
    if (general.length > 0) throw invalidInput(`Invalid batch: ${general.join("; ")}. ${usage} Nothing was queued.`);
  }
  // The envelope is right, so `tasks` is an array. A batch that passed is used as parsed; when some tasks failed,
  // the others are parsed again one by one (the batch's parse gives no data then), to report every problem.
  const raw = (input as { tasks: unknown[] }).tasks;
  const valid: Array<{ index: number; task: SubmitTask }> = [];
  for (const [index, item] of raw.entries()) {
    if (problems.has(index)) continue;
    const task = parsed.success ? { success: true as const, data: parsed.data.tasks[index]! } : SubmitTaskSchema.safeParse(item);
    if (task.success) valid.push({ index, task: task.data });
    else note(index, describeZodError(task.error));
  }
  // Redis's clock, read once per batch and only if some task asks for a delay.
  const clock = valid.some(({ task }) => wantsDelay(task)) ? await redisCall(now, NOTHING_CHANGED) : 0;
  const checked: Array<{ index: number; task: SubmitTask; runAt?: string }> = [];
  for (const { index, task } of valid) {
    const when = scheduledRunAt(task, clock);
    if (!when.ok) {
      note(index, when.error);
      continue;
    }
    const taskBytes = bytes > MAX_BODY_BYTES ? Buffer.byteLength(JSON.stringify(raw[index])) : 0;
    if (taskBytes > MAX_BODY_BYTES) note(index, `the task is ${taskBytes} bytes as JSON; the limit for one task is ${MAX_BODY_BYTES} bytes`);
    else checked.push({ index, task, runAt: when.runAt });
  }
  // Routes are cached per node: built-in types cost no round trip, announced ones at most two for the whole batch.
  const routed = await redisCall(() => routes.forSubmissions(checked.map(({ task }) => ({ type: task.type, payload: task.payload ?? {} }))), NOTHING_CHANGED);
  const tasks: BatchTask[] = [];
  checked.forEach(({ index, task, runAt }, i) => {
    const route = routed[i]!;
    if (!route.ok) return void note(index, route.error);
    const delay = delayOf(task);
    tasks.push({ type: task.type, payload: task.payload ?? {}, priority: task.priority ?? 0, queue: route.queue, runAt, ...(delay.length > 0 ? { delay: delay[0] } : {}) });
  });
  if (problems.size > 0) {
    const list = [...problems].sort(([a], [b]) => a - b).map(([index, found]) => `tasks[${index}]: ${found.join("; ")}`);
    throw invalidInput(`${problems.size} of ${raw.length} tasks are invalid, so nothing was queued. ${list.join(" | ")}`);
  }
  return tasks;
}

/**
 * The id of a batch's `index`th task: a UUID (version 8, RFC 9562) hashed from the batch's random id, so a
 * replayed Idempotency-Key, which remembers only the batch, answers the same ids.
 */
function batchTaskId(batchId: string, index: number): string {
  return derivedId(`${batchId}:${index}`);
}

/** A UUID (version 8, RFC 9562) hashed from `seed`: the same seed, the same id. */
export function derivedId(seed: string): string {
  // One-shot hash: no Hash object per id (a batch derives a thousand).
  const bytes = digest("sha256", seed, "buffer");
  bytes[6] = (bytes[6]! & 0x0f) | 0x80; // version 8
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10
  const h = bytes.toString("hex", 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The audit entry's summary: how many tasks of which types, and their ids' range. */
function batchDetail(tasks: BatchTask[], ids: string[]): string {
  const byType = new Map<string, number>();
  for (const { type } of tasks) byType.set(type, (byType.get(type) ?? 0) + 1);
  const types = [...byType].map(([type, count]) => `${type} ×${count}`).join(", ");
  return `${tasks.length} tasks: ${types}; ids ${ids[0]} to ${ids.at(-1)}`;
}
