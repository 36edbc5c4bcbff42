// The one way a task enters the queue from a web node, whatever the transport (HTTP or Socket.IO): one
// set of rules for who may submit, how big a task may be, what it must look like, idempotency and audit.
import { randomUUID } from "node:crypto";
import { MAX_BODY_BYTES, MAX_IDEMPOTENCY_KEY_LENGTH, SubmitTaskSchema, type TaskRecord } from "../../lib/contract";
import { newTaskRecord } from "../../lib/task-lifecycle";
import { describeZodError } from "../../lib/zod-message";
import type { AuditLog } from "../audit/audit-log";
import { AppError, invalidInput, messageOf, tooLarge } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { AmqpConnection } from "../queue/amqp";
import type { ConfirmPublisher } from "../queue/publisher";
import { hash, type IdempotencyKeys } from "../store/idempotency";
import type { TaskStore } from "../store/task-store";
import { checkTask } from "../tasks/registry";
import { assertOperator, type Actor } from "./actor";
import { conflict, redisCall } from "./redis-call";

/** How often, and how many times, a refused submission's writes are undone while Redis does not answer. */
const UNDO_EVERY_MS = 1000;
const UNDO_TRIES = 60;

export interface SubmissionDeps {
  store: TaskStore;
  publisher: ConfirmPublisher;
  idempotency: IdempotencyKeys;
  amqp: () => AmqpConnection;
  audit: AuditLog;
  live: LiveEvents;
  log: Logger;
}

export interface SubmitRequest {
  /** The task as sent: `{type, payload?, priority?}`, checked here. */
  input: unknown;
  /** A repeated key within 24 hours returns the task the first request made. */
  idempotencyKey?: string;
  actor: Actor;
}

export interface Submitted {
  record: TaskRecord;
  /** True when an earlier request with the same Idempotency-Key made this task. */
  replayed: boolean;
}

export class TaskSubmission {
  constructor(private readonly deps: SubmissionDeps) {}

  /** Resolves once RabbitMQ has confirmed the message; never accepts a task it could not queue. */
  async submit({ input, idempotencyKey: key, actor }: SubmitRequest): Promise<Submitted> {
    assertOperator(actor, "submit tasks");
    const bytes = Buffer.byteLength(JSON.stringify(input) ?? "");
    if (bytes > MAX_BODY_BYTES) throw tooLarge(`The task is ${bytes} bytes as JSON; the limit is ${MAX_BODY_BYTES} bytes. Nothing was queued.`);
    const parsed = SubmitTaskSchema.safeParse(input);
    if (!parsed.success) throw invalidInput(`Invalid task: ${describeZodError(parsed.error)}. Send {"type": string, "payload"?: object, "priority"?: 0-9}.`);
    const { type, payload = {}, priority = 0 } = parsed.data;
    const check = checkTask(type, payload);
    if (!check.ok) throw invalidInput(check.error);
    if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
      throw invalidInput(`Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`);
    }
    // Refuse at once while RabbitMQ is down rather than record a task that cannot be queued.
    this.deps.amqp().current();

    const id = randomUUID();
    if (key !== undefined) {
      const fingerprint = hash(JSON.stringify([type, payload, priority]));
      // A claim that timed out may still land: its undo is queued behind it.
      const claim = await redisCall(() => this.deps.idempotency.reserve(key, fingerprint, id)).catch((err: unknown) => {
        this.undo(() => this.deps.idempotency.release(key, id));
        throw err;
      });
      if (!claim.reserved) {
        if (!claim.sameRequest) throw new AppError(422, "idempotency_key_reused", "This Idempotency-Key was already used for a different task in the last 24 hours; use a new key for a new task.");
        return { record: await this.awaitRecord(claim.taskId), replayed: true };
      }
    }

    let record = newTaskRecord({ type: "submit", id, taskType: type, payload, priority, at: new Date().toISOString() });
    try {
      // The record exists before the message, so a worker always finds it. A create that timed out may still
      // run when Redis answers again: the removal, queued behind it on the same connection, undoes it.
      record =
        (await redisCall(() => this.deps.store.create(record)).catch((err: unknown) => {
          this.undo(() => this.deps.store.remove(id));
          throw err;
        })) ?? record;
      try {
        await this.deps.publisher.publishTask({ id, type, payload }, priority);
      } catch (err) {
        this.undo(() => this.deps.store.remove(id));
        throw err;
      }
    } catch (err) {
      if (key !== undefined) this.undo(() => this.deps.idempotency.release(key, id));
      throw err;
    }
    this.deps.log.info({ taskId: id, type, priority }, "task queued");
    this.deps.live.emit("task:changed", record);
    this.deps.live.emit("task:submitted", record);
    // A person's submission is audited; services' (tokens, the loopback API) are the queue's ordinary traffic.
    if (actor.principal.kind === "user") {
      void this.deps.audit.record({ action: "task.submit", actor: actor.principal, target: id, detail: `type ${type}, priority ${priority}`, ip: actor.ip, via: actor.via });
    }
    return { record, replayed: false };
  }

  /**
   * Undoes what a refused submission may have written (its record, its Idempotency-Key). Redis may not be
   * answering right now, and a write that timed out may still land: the undo is tried until it succeeds, once a
   * second for a minute at most, without holding up the 503.
   */
  private undo(step: () => Promise<unknown>, tries = UNDO_TRIES): void {
    step().catch((err: unknown) => {
      if (tries > 1) setTimeout(() => this.undo(step, tries - 1), UNDO_EVERY_MS).unref();
      else this.deps.log.warn({ err: messageOf(err) }, "could not undo a refused submission's writes in Redis");
    });
  }

  /** The record a concurrent request with the same Idempotency-Key is creating. */
  private async awaitRecord(id: string): Promise<TaskRecord> {
    for (let i = 0; i < 30; i++) {
      const record = await redisCall(() => this.deps.store.get(id));
      if (record) return record;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw conflict("A request with this Idempotency-Key is still being processed; try again shortly.");
  }
}
