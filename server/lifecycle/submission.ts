// The one way a task enters the queue from a web node, whatever the transport (HTTP or Socket.IO): one
// set of rules for who may submit, how big a task may be, what it must look like, idempotency and audit.
import { randomUUID } from "node:crypto";
import { MAX_BODY_BYTES, MAX_IDEMPOTENCY_KEY_LENGTH, SubmitTaskSchema, type Payload, type TaskRecord } from "../../lib/contract";
import { newTaskRecord } from "../../lib/task-lifecycle";
import { describeZodError } from "../../lib/zod-message";
import type { AuditLog } from "../audit/audit-log";
import { AppError, conflict, invalidInput, messageOf, notFound, tooLarge } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { AmqpConnection } from "../queue/amqp";
import { redisCall, withinDeadline } from "../redis/connect";
import { CONFIRM_TIMEOUT_MS, ConfirmTimeout, withConfirmTimeout, type ConfirmPublisher } from "../queue/publisher";
import { hash, type ClaimState, type IdempotencyKeys } from "../store/idempotency";
import type { TaskStore } from "../store/task-store";
import { checkTask } from "../tasks/registry";
import { assertOperator, type Actor } from "./actor";

/** What a refused submission tells the client when Redis does not answer. */
const NOTHING_CHANGED = "nothing was queued, try again";

/** A replay of a key whose first request still waits for its confirm waits this long (rounds × ms) before 409. */
const REPLAY_WAIT_ROUNDS = 30;
const REPLAY_WAIT_MS = 100;
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
      const claim = await redisCall(() => this.deps.idempotency.reserve(key, fingerprint, id), NOTHING_CHANGED).catch((err: unknown) => {
        this.undo(() => this.deps.idempotency.release(key, id));
        throw err;
      });
      if (!claim.reserved) {
        if (!claim.sameRequest) throw new AppError(422, "idempotency_key_reused", "This Idempotency-Key was already used for a different task in the last 24 hours; use a new key for a new task.");
        return { record: await this.replay(key, claim.taskId, claim.state), replayed: true };
      }
    }

    let record = newTaskRecord({ type: "submit", id, taskType: type, payload, priority, at: new Date().toISOString() });
    try {
      // The record exists before the message, so a worker always finds it. A create that timed out may still
      // run when Redis answers again: the removal, queued behind it on the same connection, undoes it.
      record =
        (await redisCall(() => this.deps.store.create(record), NOTHING_CHANGED).catch((err: unknown) => {
          this.undo(() => this.deps.store.remove(id));
          throw err;
        })) ?? record;
    } catch (err) {
      if (key !== undefined) this.undo(() => this.deps.idempotency.release(key, id));
      throw err;
    }
    await this.publish(record, key);
    this.announce(record, "task queued");
    // A person's submission is audited; services' (tokens, the loopback API) are the queue's ordinary traffic.
    if (actor.principal.kind === "user") {
      void this.deps.audit.record({ action: "task.submit", actor: actor.principal, target: id, detail: `type ${type}, priority ${priority}`, ip: actor.ip, via: actor.via });
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
  private async publish(record: TaskRecord, key: string | undefined): Promise<void> {
    const { id, type, payload, priority } = record;
    const confirmed = this.deps.publisher.sendTask({ id, type, payload: payload as Payload }, priority);
    const confirmKey = () => (key === undefined ? Promise.resolve() : this.deps.idempotency.confirm(key, id));
    try {
      await withConfirmTimeout(confirmed, () => new ConfirmTimeout(`RabbitMQ did not confirm the task in ${CONFIRM_TIMEOUT_MS / 1000} s, so it is not accepted yet; it may still be queued. Task ${id} stays tracked: ${key === undefined ? "look it up before submitting again" : "retry with the same Idempotency-Key to learn its fate"}.`));
    } catch (err) {
      if (!(err instanceof ConfirmTimeout)) {
        this.forget(id, key);
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

  /** Removes what a submission RabbitMQ did not take wrote: its record, and its claim on the key. */
  private forget(id: string, key: string | undefined): void {
    this.undo(() => this.deps.store.remove(id));
    if (key !== undefined) this.undo(() => this.deps.idempotency.release(key, id));
  }

  /**
   * A repeated Idempotency-Key: the task the first request made, once RabbitMQ has confirmed it. While that
   * request still waits for its confirm, this one waits a moment too, then answers 409.
   */
  private async replay(key: string, taskId: string, state: ClaimState): Promise<TaskRecord> {
    for (let i = 0; state === "pending" && i < REPLAY_WAIT_ROUNDS; i++) {
      await new Promise((r) => setTimeout(r, REPLAY_WAIT_MS));
      const now = await redisCall(() => this.deps.idempotency.state(key, taskId));
      if (now === undefined) throw conflict("The first request with this Idempotency-Key was not accepted; send the task again with the same key.");
      state = now;
    }
    if (state === "pending") throw conflict("A request with this Idempotency-Key is still waiting for RabbitMQ's confirm; try again shortly.");
    const record = await redisCall(() => this.deps.store.get(taskId));
    if (!record) throw notFound(`The task this Idempotency-Key made (${taskId}) is no longer in the history.`);
    return record;
  }

  /** A task RabbitMQ confirmed: every tab sees it, the metrics count it. */
  private announce(record: TaskRecord, what: string): void {
    this.deps.log.info({ taskId: record.id, type: record.type, priority: record.priority }, what);
    this.deps.live.emit("task:changed", record);
    this.deps.live.emit("task:submitted", record);
  }

  /**
   * Undoes what a refused submission may have written (its record, its Idempotency-Key). Redis may not be
   * answering right now, and a write that timed out may still land: the undo is tried until it succeeds, once a
   * second for a minute at most, without holding up the 503.
   */
  private undo(step: () => Promise<unknown>, tries = UNDO_TRIES): void {
    // A step can hang while the client reconnects (a MULTI waits for the connection): give each try a deadline.
    Promise.resolve().then(() => withinDeadline(step())).catch((err: unknown) => {
      if (tries > 1) setTimeout(() => this.undo(step, tries - 1), UNDO_EVERY_MS).unref();
      else this.deps.log.warn({ err: messageOf(err) }, "could not undo a refused submission's writes in Redis");
    });
  }

}
