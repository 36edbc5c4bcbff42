// What operators do with tasks from a web node: cancel, retry and discard. Each is a lifecycle event
// (lib/task-lifecycle.ts) written with compare-and-set, then the queue side, then the announcement and audit.
import { RetryTaskSchema, type TaskRecord } from "../../lib/contract";
import { mustAbortWorker, runOf, transition, type TaskEvent } from "../../lib/task-lifecycle";
import { describeZodError } from "../../lib/zod-message";
import type { AuditLog } from "../audit/audit-log";
import { AppError, conflict, invalidInput, messageOf, notFound, unavailable } from "../errors";
import type { LiveEvents } from "../live-events";
import { redisCall } from "../redis/connect";
import type { Logger } from "../logger";
import type { AmqpConnection } from "../queue/amqp";
import type { DeadLetterQueue } from "../queue/dead-letters";
import type { ConfirmPublisher } from "../queue/publisher";
import type { TaskRoutes } from "../store/task-routes";
import type { TaskStore } from "../store/task-store";
import { assertOperator, type Actor } from "./actor";
import type { CancelRequests } from "./cancel-requests";

export interface TaskServiceDeps {
  store: TaskStore;
  publisher: ConfirmPublisher;
  deadLetters: DeadLetterQueue;
  /** The queue a task's type goes to (an outside worker's types go to its queue). */
  routes: Pick<TaskRoutes, "forExisting">;
  amqp: () => AmqpConnection;
  /** Tells the workers to abort a running task. */
  cancels: CancelRequests;
  audit: AuditLog;
  live: LiveEvents;
  log: Logger;
}

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
    const queued = await this.change(id, { type: "retry", payload: check.payload, at: retriedAt });
    const message = { id, type: before.type, payload: check.payload };
    try {
      const run = runOf(queued);
      const moved = await this.deps.deadLetters.requeue(model, id, Buffer.from(JSON.stringify(message)), before.priority, run, check.queue);
      if (!moved) await this.deps.publisher.publishTask(message, before.priority, run, check.queue);
    } catch (err) {
      // Not queued: put the record back as it was, so nothing claims to be queued that is not.
      await this.change(id, { type: "undo-retry", before, retriedAt }).catch(() => undefined);
      throw err instanceof AppError ? err : unavailable("RabbitMQ did not take the task back; try again.", err);
    }
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

  /** Applies an operator's event with compare-and-set: 404 without a record, 409 when the status does not allow it. */
  private async change(id: string, event: TaskEvent): Promise<TaskRecord> {
    let refusal: string | undefined;
    const saved = await redisCall(() =>
      this.deps.store.update(id, (cur) => {
        const t = transition(cur, event);
        refusal = t.kind === "refused" ? t.reason : undefined;
        return t.kind === "next" ? t.record : undefined;
      }),
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
