// What operators and services do with tasks from a web node: submit, cancel, retry and discard.
import { randomUUID } from "node:crypto";
import {
  CANCELLABLE_STATUSES,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  RETRYABLE_STATUSES,
  RetryTaskSchema,
  SubmitTaskSchema,
  type TaskRecord,
} from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import { AppError, invalidInput, messageOf, notFound, unavailable } from "../errors";
import type { Logger } from "../logger";
import type { AmqpConnection } from "../queue/amqp";
import type { DeadLetterQueue } from "../queue/dead-letters";
import type { ConfirmPublisher } from "../queue/publisher";
import type { Topology } from "../queue/topology";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import { hash, type IdempotencyKeys } from "../store/idempotency";
import type { TaskStore } from "../store/task-store";
import { checkTask } from "./registry";

export const conflict = (message: string) => new AppError(409, "conflict", message);

export interface TaskServiceDeps {
  store: TaskStore;
  publisher: ConfirmPublisher;
  deadLetters: DeadLetterQueue;
  idempotency: IdempotencyKeys;
  amqp: () => AmqpConnection;
  topology: Topology;
  redis: Redis;
  keys: RedisKeys;
  /** Pushes a changed record to every tab on every node. */
  announce: (record: TaskRecord) => void;
  /** Called once per task this node queued (not for idempotent replays). */
  submitted?: (record: TaskRecord) => void;
  log: Logger;
}

export interface Submitted {
  record: TaskRecord;
  /** True when an earlier request with the same Idempotency-Key made this task. */
  replayed: boolean;
}

export class TaskService {
  constructor(private readonly deps: TaskServiceDeps) {}

  /** Resolves once RabbitMQ has confirmed the message; never accepts a task it could not queue. */
  async submit(input: unknown, options: { idempotencyKey?: string } = {}): Promise<Submitted> {
    const parsed = SubmitTaskSchema.safeParse(input);
    if (!parsed.success) throw invalidInput(`Invalid task: ${describeZodError(parsed.error)}. Send {"type": string, "payload"?: object, "priority"?: 0-9}.`);
    const { type, payload = {}, priority = 0 } = parsed.data;
    const check = checkTask(type, payload);
    if (!check.ok) throw invalidInput(check.error);
    const key = options.idempotencyKey;
    if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
      throw invalidInput(`Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`);
    }
    // Refuse at once while RabbitMQ is down rather than record a task that cannot be queued.
    this.deps.amqp().current();

    const id = randomUUID();
    if (key !== undefined) {
      const fingerprint = hash(JSON.stringify([type, payload, priority]));
      const claim = await this.redisCall(() => this.deps.idempotency.reserve(key, fingerprint, id));
      if (!claim.reserved) {
        if (!claim.sameRequest) throw new AppError(422, "idempotency_key_reused", "This Idempotency-Key was already used for a different task in the last 24 hours; use a new key for a new task.");
        return { record: await this.awaitRecord(claim.taskId), replayed: true };
      }
    }

    const record: TaskRecord = { id, type, payload, priority, status: "queued", progress: 0, attempts: 0, attemptLog: [], createdAt: new Date().toISOString(), version: 1 };
    try {
      // The record exists before the message, so a worker always finds it.
      await this.redisCall(() => this.deps.store.create(record));
      try {
        await this.deps.publisher.publishTask({ id, type, payload }, priority);
      } catch (err) {
        await this.deps.store.remove(id).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      if (key !== undefined) await this.deps.idempotency.release(key).catch(() => undefined);
      throw err;
    }
    this.deps.log.info({ taskId: id, type, priority }, "task queued");
    this.deps.announce(record);
    this.deps.submitted?.(record);
    return { record, replayed: false };
  }

  /**
   * Cancels a task: one that waits (queued, retrying, stalled) is cancelled at once and skipped when
   * it is delivered; a running one has its handler's AbortSignal aborted by its worker.
   */
  async cancel(id: string): Promise<TaskRecord> {
    const cancelledAt = new Date().toISOString();
    let refused: TaskRecord | undefined;
    const saved = await this.redisCall(() =>
      this.deps.store.update(id, (cur) => {
        refused = undefined;
        if (!CANCELLABLE_STATUSES.includes(cur.status)) return void (refused = cur);
        if (cur.status === "running") return cur.cancelRequested ? undefined : { ...cur, cancelRequested: true };
        return { ...cur, status: "cancelled", error: "Cancelled by an operator.", finishedAt: cancelledAt, nextAttemptAt: undefined };
      }),
    );
    if (!saved) throw notFound(`No task with id "${id}".`);
    if (refused) throw conflict(`Task ${id} is ${refused.status}; only queued, running, retrying or stalled tasks can be cancelled.`);
    if (saved.status === "running") await this.redisCall(() => this.deps.redis.publish(this.deps.keys.taskCancel, id));
    this.deps.log.info({ taskId: id, status: saved.status }, "task cancel requested");
    this.deps.announce(saved);
    return saved;
  }

  /**
   * Runs a dead, failed or cancelled task again with a fresh attempt count, optionally with an edited
   * payload. Its message leaves the dead-letter queue (keeping reply_to) or, if it is not there, a new one is queued.
   */
  async retry(id: string, input: unknown): Promise<TaskRecord> {
    const parsed = RetryTaskSchema.safeParse(input ?? {});
    if (!parsed.success) throw invalidInput(`Invalid retry: ${describeZodError(parsed.error)}. Send {} or {"payload": object}.`);
    const model = this.deps.amqp().current();
    const before = await this.redisCall(() => this.deps.store.get(id));
    if (!before) throw notFound(`No task with id "${id}".`);
    const payload = parsed.data.payload ?? before.payload;
    const check = checkTask(before.type, payload);
    if (!check.ok) throw invalidInput(check.error);

    let refused: TaskRecord | undefined;
    const retriedAt = new Date().toISOString();
    const queued = await this.redisCall(() =>
      this.deps.store.update(id, (cur) => {
        refused = undefined;
        if (!RETRYABLE_STATUSES.includes(cur.status)) return void (refused = cur);
        return {
          ...cur,
          payload: check.payload,
          status: "queued",
          progress: 0,
          attempts: 0,
          result: undefined,
          error: undefined,
          finishedAt: undefined,
          nextAttemptAt: undefined,
          cancelRequested: undefined,
          discardedAt: undefined,
          retriedAt,
        };
      }),
    );
    if (refused || !queued) throw conflict(`Task ${id} is ${(refused ?? before).status}; only dead, failed or cancelled tasks can be retried.`);

    const body = Buffer.from(JSON.stringify({ id, type: before.type, payload: check.payload }));
    try {
      const moved = await this.deps.deadLetters.withdraw(model, id, async (message, channel) => {
        const { headers = {}, ...properties } = message.properties;
        const kept = Object.fromEntries(Object.entries(headers as Record<string, unknown>).filter(([h]) => !h.startsWith("x-")));
        channel.sendToQueue(this.deps.topology.queue, body, { ...withoutUndefined(properties), headers: kept, messageId: id, persistent: true, priority: before.priority });
        await channel.waitForConfirms();
      });
      if (!moved) await this.deps.publisher.publishTask({ id, type: before.type, payload: check.payload }, before.priority);
    } catch (err) {
      // Not queued: put the record back as it was, so nothing claims to be queued that is not.
      await this.deps.store.update(id, (cur) => (cur.status === "queued" && cur.retriedAt === retriedAt ? { ...before, version: cur.version } : undefined)).catch(() => undefined);
      throw err instanceof AppError ? err : unavailable(`RabbitMQ did not take the task back (${messageOf(err)}); try again.`);
    }
    this.deps.log.info({ taskId: id, edited: parsed.data.payload !== undefined }, "task retried by an operator");
    this.deps.announce(queued);
    return queued;
  }

  /** Removes a dead task from the dead-letter queue and list; its record stays, marked discarded. */
  async discard(id: string): Promise<TaskRecord> {
    const model = this.deps.amqp().current();
    let refused: TaskRecord | undefined;
    const discardedAt = new Date().toISOString();
    const saved = await this.redisCall(() =>
      this.deps.store.update(id, (cur) => {
        refused = undefined;
        return cur.status === "dead" && !cur.discardedAt ? { ...cur, discardedAt } : void (refused = cur);
      }),
    );
    if (!saved) throw notFound(`No task with id "${id}".`);
    if (refused) throw conflict(refused.status === "dead" ? `Task ${id} was already discarded.` : `Task ${id} is ${refused.status}; only dead tasks can be discarded.`);
    await this.deps.deadLetters.withdraw(model, id, async () => undefined).catch((err: unknown) => {
      this.deps.log.warn({ taskId: id, err: messageOf(err) }, "discarded task's message could not be removed from the dead-letter queue");
    });
    this.deps.log.info({ taskId: id }, "dead task discarded by an operator");
    this.deps.announce(saved);
    return saved;
  }

  /** The record a concurrent request with the same Idempotency-Key is creating. */
  private async awaitRecord(id: string): Promise<TaskRecord> {
    for (let i = 0; i < 30; i++) {
      const record = await this.redisCall(() => this.deps.store.get(id));
      if (record) return record;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw conflict("A request with this Idempotency-Key is still being processed; try again shortly.");
  }

  private async redisCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw unavailable(`Redis is not reachable, so nothing was changed (${messageOf(err)}). Try again.`);
    }
  }
}

const withoutUndefined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;

