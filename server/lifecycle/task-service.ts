// What operators do with tasks from a web node: cancel, retry and discard. Each is a lifecycle event
// (lib/task-lifecycle.ts) written with compare-and-set, then the queue side, then the announcement and audit.
import { RetryTaskSchema, type TaskRecord } from "../../lib/contract";
import { isDeadLetter, mustAbortWorker, runOf, transition, type TaskEvent } from "../../lib/task-lifecycle";
import { describeZodError } from "../../lib/zod-message";
import type { AuditLog } from "../audit/audit-log";
import { AppError, conflict, invalidInput, messageOf, notFound, unavailable } from "../errors";
import type { LiveEvents } from "../live-events";
import { redisCall } from "../redis/connect";
import type { Logger } from "../logger";
import type { AmqpConnection } from "../queue/amqp";
import type { DeadLetterQueue } from "../queue/dead-letters";
import type { ConfirmPublisher } from "../queue/publisher";
import type { PublishOutbox } from "../store/publish-outbox";
import type { TaskRoutes } from "../store/task-routes";
import type { TaskStore, WriteOptions } from "../store/task-store";
import { assertOperator, type Actor } from "./actor";
import type { CancelRequests } from "./cancel-requests";
import type { ReplyOnceDeps } from "./reply-once";
import { replyForScheduled } from "./scheduled-tasks";

export interface TaskServiceDeps {
  store: TaskStore;
  publisher: ConfirmPublisher;
  deadLetters: DeadLetterQueue;
  /** A retried task is marked as being published until RabbitMQ has it (store/publish-outbox.ts). */
  outbox: Pick<PublishOutbox, "track" | "publishMarked">;
  /** The queue a task's type goes to (an outside worker's types go to its queue). */
  routes: Pick<TaskRoutes, "forExisting">;
  amqp: () => AmqpConnection;
  /** Tells the workers to abort a running task. */
  cancels: CancelRequests;
  /** Sends a finished task's record to an AMQP reply_to (a task scheduled over AMQP, cancelled while scheduled). */
  reply: ReplyOnceDeps["reply"];
  audit: AuditLog;
  live: LiveEvents;
  log: Logger;
}

/** What a bulk action did: how many tasks it moved, and those it left alone with the reason. */
export interface BulkOutcome {
  count: number;
  skipped: Array<{ id: string; reason: string }>;
}

/** Record reads and writes of a bulk action go this many at a time. */
const BULK_CONCURRENCY = 32;

const unique = (ids: readonly string[]) => [...new Set(ids)];

async function inChunks(ids: readonly string[], work: (id: string) => Promise<void>): Promise<void> {
  for (let i = 0; i < ids.length; i += BULK_CONCURRENCY) await Promise.all(ids.slice(i, i + BULK_CONCURRENCY).map(work));
}

const notDeadReason = (task: TaskRecord) => (task.status === "dead" ? "already discarded" : `not a dead letter: it is ${task.status}`);

export class TaskService {
  constructor(private readonly deps: TaskServiceDeps) {}

  /**
   * Cancels a task: one that waits (queued, retrying, stalled) is cancelled at once and skipped when
   * it is delivered; a running one has its handler's AbortSignal aborted by its worker.
   */
  async cancel(id: string, actor: Actor): Promise<TaskRecord> {
    assertOperator(actor, "cancel tasks");
    const saved = await this.change(id, { type: "cancel", at: new Date().toISOString() });
    if (mustAbortWorker(saved)) await redisCall(() => this.deps.cancels.request(id), "the worker was not told to stop; cancel again");
    // A task cancelled while scheduled has no message for a worker to reply from: its reply (if it has a reply_to)
    // goes now; should this fail, the mover sends it at the task's runAt.
    if (saved.status === "cancelled" && saved.runAt !== undefined && saved.attempts === 0 && !saved.awaitingDelivery) {
      const changed = (record: TaskRecord) => this.deps.live.emit("task:changed", record);
      await replyForScheduled({ store: this.deps.store, changed, reply: this.deps.reply }, saved).catch((err: unknown) => this.deps.log.warn({ taskId: id, err: messageOf(err) }, "the reply of a cancelled scheduled task was not sent; it is sent at its runAt"));
    }
    this.deps.log.info({ taskId: id, status: saved.status }, "task cancel requested");
    this.done(saved, actor, "task.cancel", `type ${saved.type}`);
    return saved;
  }

  /**
   * Runs a dead, failed or cancelled task again with a fresh attempt count, optionally with an edited
   * payload. Its message leaves the dead-letter queue (keeping reply_to) or, if it is not there, a new one is queued.
   */
  async retry(id: string, input: unknown, actor: Actor): Promise<TaskRecord> {
    assertOperator(actor, "retry tasks");
    const parsed = RetryTaskSchema.safeParse(input ?? {});
    if (!parsed.success) throw invalidInput(`Invalid retry: ${describeZodError(parsed.error)}. Send {} or {"payload": object}.`);
    const model = this.deps.amqp().current();
    const before = await redisCall(() => this.deps.store.get(id));
    if (!before) throw notFound(`No task with id "${id}".`);
    const check = await redisCall(() => this.deps.routes.forExisting(before.type, parsed.data.payload ?? before.payload));
    if (!check.ok) throw invalidInput(check.error);

    const retriedAt = new Date().toISOString();
    // Queued and marked as being published in one write: should this node stop before RabbitMQ has the message, the
    // delayed-task mover publishes it again.
    const queued = await this.change(id, { type: "retry", payload: check.payload, at: retriedAt }, { publishing: true });
    const message = { id, type: before.type, payload: check.payload };
    const run = runOf(queued);
    await this.deps.outbox
      .publishMarked(
        [id],
        async () => {
          const moved = await this.deps.deadLetters.requeue(model, id, Buffer.from(JSON.stringify(message)), before.priority, run, check.queue);
          if (!moved) await this.deps.publisher.publishTask(message, before.priority, run, check.queue);
        },
        // Not queued: put the record back as it was, so nothing claims to be queued that is not.
        () => this.change(id, { type: "undo-retry", before, retriedAt }),
      )
      .catch((err: unknown) => {
        throw err instanceof AppError ? err : unavailable("RabbitMQ did not take the task back; try again.", err);
      });
    const edited = parsed.data.payload !== undefined;
    this.deps.log.info({ taskId: id, edited }, "task retried by an operator");
    this.done(queued, actor, "task.retry", `type ${queued.type}${edited ? ", payload edited" : ""}`);
    return queued;
  }

  /** Removes a dead task from the dead-letter queue and list; its record stays, marked discarded. */
  async discard(id: string, actor: Actor): Promise<TaskRecord> {
    assertOperator(actor, "discard tasks");
    const model = this.deps.amqp().current();
    const saved = await this.change(id, { type: "discard", at: new Date().toISOString() });
    await this.deps.deadLetters.remove(model, id).catch((err: unknown) => {
      this.deps.log.warn({ taskId: id, err: messageOf(err) }, "discarded task's message could not be removed from the dead-letter queue");
    });
    this.deps.log.info({ taskId: id }, "dead task discarded by an operator");
    this.done(saved, actor, "task.discard", `type ${saved.type}`);
    return saved;
  }

  /**
   * Retries many dead letters as `retry` does each one (no payload edit), withdrawing their messages in ONE scan
   * of the dead-letter queue. A task that is not a dead letter, or whose type no worker runs, is skipped with the
   * reason. Each moved task is announced; the caller writes the one audit entry.
   */
  async retryMany(ids: readonly string[], actor: Actor): Promise<BulkOutcome> {
    assertOperator(actor, "retry tasks");
    const model = this.deps.amqp().current();
    const skipped: BulkOutcome["skipped"] = [];
    const prepared = new Map<string, { before: TaskRecord; queued: TaskRecord; retriedAt: string; payload: Record<string, unknown>; body: Buffer; priority: number; run: number; queue: string }>();
    await inChunks(unique(ids), async (id) => {
      try {
        const before = await redisCall(() => this.deps.store.get(id));
        if (!before) return void skipped.push({ id, reason: "no such task" });
        if (!isDeadLetter(before)) return void skipped.push({ id, reason: notDeadReason(before) });
        const check = await redisCall(() => this.deps.routes.forExisting(before.type, before.payload));
        if (!check.ok) return void skipped.push({ id, reason: check.error });
        const retriedAt = new Date().toISOString();
        const queued = await this.change(id, { type: "retry", payload: check.payload, at: retriedAt }, { publishing: true });
        const body = Buffer.from(JSON.stringify({ id, type: before.type, payload: check.payload }));
        prepared.set(id, { before, queued, retriedAt, payload: check.payload, body, priority: before.priority, run: runOf(queued), queue: check.queue });
      } catch (err) {
        skipped.push({ id, reason: messageOf(err) });
      }
    });
    if (prepared.size === 0) return { count: 0, skipped };
    // Their marks (written with the retries) are stamped from now on: one scan of a long dead-letter queue takes time.
    this.deps.outbox.track([...prepared.keys()]);
    let result: { found: Set<string>; failed: Map<string, unknown> };
    try {
      result = await this.deps.deadLetters.requeueMany(model, prepared);
    } catch (err) {
      result = { found: new Set(), failed: new Map([...prepared.keys()].map((id) => [id, err])) };
    }
    const moved: TaskRecord[] = [];
    await inChunks([...prepared.keys()], async (id) => {
      const p = prepared.get(id)!;
      try {
        await this.deps.outbox.publishMarked(
          [id],
          async () => {
            if (result.failed.has(id)) throw result.failed.get(id);
            // Not in the dead-letter queue (as the single retry): a new message.
            if (!result.found.has(id)) await this.deps.publisher.publishTask({ id, type: p.before.type, payload: p.payload }, p.priority, p.run, p.queue);
          },
          () => this.change(id, { type: "undo-retry", before: p.before, retriedAt: p.retriedAt }),
        );
        moved.push(p.queued);
      } catch (err) {
        skipped.push({ id, reason: err instanceof AppError ? err.message : "RabbitMQ did not take the task back; try again." });
      }
    });
    for (const record of moved) this.deps.live.emit("task:changed", record);
    this.deps.log.info({ count: moved.length, skipped: skipped.length }, "dead tasks retried in bulk by an operator");
    return { count: moved.length, skipped };
  }

  /** Discards many dead letters as `discard` does each one, removing their messages in ONE scan of the dead-letter queue. */
  async discardMany(ids: readonly string[], actor: Actor): Promise<BulkOutcome> {
    assertOperator(actor, "discard tasks");
    const model = this.deps.amqp().current();
    const skipped: BulkOutcome["skipped"] = [];
    const saved: TaskRecord[] = [];
    await inChunks(unique(ids), async (id) => {
      try {
        saved.push(await this.change(id, { type: "discard", at: new Date().toISOString() }));
      } catch (err) {
        skipped.push({ id, reason: err instanceof AppError && err.status === 404 ? "no such task" : messageOf(err) });
      }
    });
    if (saved.length > 0) {
      const removal = await this.deps.deadLetters.removeMany(model, new Set(saved.map((r) => r.id))).catch((err: unknown) => ({ failed: new Map([[undefined, err]]) }));
      if (removal.failed.size > 0) this.deps.log.warn({ failed: removal.failed.size, err: messageOf([...removal.failed.values()][0]) }, "some discarded tasks' messages could not be removed from the dead-letter queue");
    }
    for (const record of saved) this.deps.live.emit("task:changed", record);
    this.deps.log.info({ count: saved.length, skipped: skipped.length }, "dead tasks discarded in bulk by an operator");
    return { count: saved.length, skipped };
  }

  /** Applies an operator's event with compare-and-set: 404 without a record, 409 when the status does not allow it. */
  private async change(id: string, event: TaskEvent, options?: WriteOptions): Promise<TaskRecord> {
    let refusal: string | undefined;
    const saved = await redisCall(() =>
      this.deps.store.update(
        id,
        (cur) => {
          const t = transition(cur, event);
          refusal = t.kind === "refused" ? t.reason : undefined;
          return t.kind === "next" ? t.record : undefined;
        },
        undefined,
        options,
      ),
      "nothing was changed, try again",
    );
    if (!saved) throw notFound(`No task with id "${id}".`);
    if (refusal) throw conflict(refusal);
    return saved;
  }

  /** Every tab sees the change; the audit log says who made it. */
  private done(record: TaskRecord, actor: Actor, action: "task.cancel" | "task.retry" | "task.discard", detail: string): void {
    this.deps.live.emit("task:changed", record);
    void this.deps.audit.record({ action, actor: actor.principal, target: record.id, detail, ip: actor.ip, via: actor.via });
  }
}
