// Turns one AMQP delivery into a task attempt: record it, run its handler, then settle it as succeeded,
// failed, cancelled, retrying (parked in a TTL retry queue) or dead (moved to the dead-letter queue).
import type { ConsumeMessage, Options } from "amqplib";
import { randomUUID } from "node:crypto";
import { isFinished, MAX_ATTEMPT_LOG, TaskMessageSchema, type TaskAttempt, type TaskRecord } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Outcome } from "../queue/consumer";
import type { ConfirmPublisher } from "../queue/publisher";
import { REASON_HEADER } from "../queue/topology";
import type { TaskStore } from "../store/task-store";
import { backoffDelay, retryPolicy, TaskFailure } from "./define-task";
import { checkTask } from "./registry";

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

export interface TaskRunnerDeps {
  store: TaskStore;
  /** Confirmed publishing to the retry and dead-letter queues. */
  publisher: ConfirmPublisher;
  /** Pushes a task record to every browser. */
  publish: (record: TaskRecord) => void;
  /** Sends the final record to an AMQP reply_to queue. */
  reply: (replyTo: string, correlationId: string | undefined, record: TaskRecord) => void;
  /** Whether another live worker says it is running this task right now. */
  heldElsewhere: (workerId: string, taskId: string) => Promise<boolean>;
  workerId: string;
  log: Logger;
  /** Called once when this worker records a task's final status (the activity counters). */
  finished?: (record: TaskRecord) => void;
}

export class TaskRunner {
  /** Attempts running in this worker, by task id. */
  private readonly active = new Map<string, AbortController>();

  constructor(private readonly deps: TaskRunnerDeps) {}

  /** Ids of the tasks this worker is running. */
  runningIds(): string[] {
    return [...this.active.keys()];
  }

  /** Aborts a running attempt here; true if this worker was running it. */
  abort(taskId: string, reason: AttemptAbort): boolean {
    const controller = this.active.get(taskId);
    if (!controller) return false;
    controller.abort(reason);
    return true;
  }

  /** Aborts every running attempt (shutdown past the grace period): each goes back to the queue. */
  abortAll(): void {
    for (const id of this.active.keys()) this.abort(id, new AttemptAbort("shutdown", "the worker shut down"));
  }

  async run(message: ConsumeMessage): Promise<Outcome> {
    const { store, log, workerId } = this.deps;
    const parsed = parseMessage(message);
    const id = parsed.id;
    // A message another service published has no record yet: it is written with the attempt's first change
    // (version 0 means "create"), which saves a round trip to Redis per task.
    let record = (await store.get(id)) ?? recordFromMessage(parsed, message);

    if (isFinished(record.status)) {
      // A cancelled task met for the first time still owes its submitter the one reply.
      if (record.status === "cancelled" && !message.fields.redelivered) this.sendReply(message, record);
      log.info({ taskId: id, status: record.status }, "task already settled; dropping the delivery");
      return "ack";
    }
    if (parsed.error !== undefined) return this.bury(message, record, parsed.error);
    const check = checkTask(record.type, record.payload);
    if (!check.ok) return this.bury(message, record, check.error);
    if (this.active.has(id) || (record.status === "running" && record.worker && record.worker !== workerId && (await this.deps.heldElsewhere(record.worker, id)))) {
      // A duplicate delivery of a task still being run (its first channel closed, the worker lives on).
      log.info({ taskId: id, worker: record.worker }, "task is running elsewhere; requeueing the duplicate");
      return "requeue";
    }
    const policy = retryPolicy(check.definition);

    if (record.status === "running" || record.status === "stalled") {
      // The previous attempt's worker died or lost its connection mid-run: the attempt counts as interrupted.
      const interrupted = await this.save(id, (cur) =>
        cur.status === "running" || cur.status === "stalled"
          ? { ...cur, status: "queued", attemptLog: settleAttempt(cur.attemptLog, "interrupted", "the worker stopped mid-run") }
          : undefined,
      );
      if (!interrupted) return "ack";
      record = interrupted;
      log.warn({ taskId: id, attempt: record.attempts }, "previous attempt was interrupted");
      if (record.attempts >= policy.maxAttempts) {
        return this.bury(message, record, `Attempt ${record.attempts} of ${policy.maxAttempts} was interrupted (its worker stopped) and no attempts are left.`);
      }
    }

    const startedAt = new Date().toISOString();
    // The attempt's start, as a change to the stored record (undefined: finished meanwhile, nothing to run).
    const begin = (cur: TaskRecord): TaskRecord | undefined => {
      if (isFinished(cur.status)) return undefined;
      if (cur.cancelRequested) return { ...cur, status: "cancelled", error: "Cancelled by an operator.", finishedAt: startedAt };
      const n = cur.attempts + 1;
      return {
        ...cur,
        status: "running",
        progress: 0,
        attempts: n,
        maxAttempts: policy.maxAttempts,
        nextAttemptAt: undefined,
        startedAt,
        worker: workerId,
        attemptLog: appendAttempt(cur.attemptLog, { attempt: n, worker: workerId, startedAt, outcome: "running" }),
      };
    };
    const preview = begin(record);
    if (!preview || preview.status !== "running") {
      const settled = await this.save(id, begin, record);
      if (settled?.status === "cancelled") this.sendReply(message, settled);
      return "ack";
    }
    const attempt = preview.attempts;
    const ours = (cur: TaskRecord) => cur.status === "running" && cur.worker === workerId && cur.startedAt === startedAt;
    // Every later write applies to the started attempt, starting it first if that was not written yet.
    const afterStart =
      (mutate: (cur: TaskRecord) => TaskRecord | undefined) =>
      (cur: TaskRecord): TaskRecord | undefined => {
        if (ours(cur)) return mutate(cur);
        const started = begin(cur);
        return started?.status === "running" ? mutate(started) : started;
      };
    const startedMs = Date.now();

    const controller = new AbortController();
    this.active.set(id, controller);
    const timer = setTimeout(() => controller.abort(new AttemptAbort("timeout", `Attempt timed out after ${policy.timeoutMs} ms.`)), policy.timeoutMs);
    let writes: Promise<unknown> = Promise.resolve();
    // Most tasks finish in a few milliseconds: they are recorded once, when they end. A task still running
    // after RUNNING_WRITE_DELAY_MS is recorded as running (with its worker, for stall detection) at that point.
    const markRunning = setTimeout(() => {
      writes = writes
        .then(() => this.save(id, (cur) => (ours(cur) ? undefined : begin(cur)), record))
        .then((saved) => {
          if (saved) record = saved;
          // Cancelled or settled while it waited to be recorded as running: stop the handler.
          if (!saved || !ours(saved)) controller.abort(new AttemptAbort("cancelled", "Cancelled by an operator."));
          // Like the record, the log has a line for the start of an attempt that lasts; every attempt's end has one.
          else log.info({ taskId: id, type: record.type, attempt }, "task running");
        })
        .catch((err: unknown) => log.warn({ taskId: id, err: messageOf(err) }, "running state not saved"));
    }, RUNNING_WRITE_DELAY_MS);
    let lastProgressAt = 0;
    const progress = (fraction: number) => {
      const at = Date.now();
      if (at - lastProgressAt < PROGRESS_INTERVAL_MS || controller.signal.aborted) return;
      lastProgressAt = at;
      writes = writes
        // A task marked stalled while this worker was only cut off from Redis is running again once it reports.
        .then(() => this.save(id, (cur) => ((cur.status === "running" || cur.status === "stalled") && cur.worker === workerId ? { ...cur, status: "running", progress: clamp(fraction) } : undefined)))
        .then((saved) => {
          if (saved) record = saved;
          if (saved?.cancelRequested) controller.abort(new AttemptAbort("cancelled", "Cancelled by an operator."));
        })
        .catch((err: unknown) => log.warn({ taskId: id, err: messageOf(err) }, "progress not saved"));
    };

    let result: unknown;
    let failure: unknown;
    try {
      result = await Promise.race([
        check.definition.run(check.payload, { progress, signal: controller.signal, attempt, taskId: id }),
        abortedPromise(controller.signal),
      ]);
    } catch (err) {
      failure = controller.signal.aborted ? controller.signal.reason : err;
    } finally {
      clearTimeout(timer);
      clearTimeout(markRunning);
      this.active.delete(id);
    }
    await writes;
    const finishedAt = new Date().toISOString();

    if (failure === undefined) {
      log.info({ taskId: id, type: record.type, attempt, ms: Date.now() - startedMs }, "task succeeded");
      return this.settle(message, id, afterStart((cur) => ({ ...cur, status: "succeeded", progress: 1, result: result ?? null, error: undefined, finishedAt, attemptLog: settleAttempt(cur.attemptLog, "succeeded") })), record);
    }
    const error = messageOf(failure);
    if (failure instanceof AttemptAbort && failure.kind === "cancelled") {
      log.info({ taskId: id }, "task cancelled while running");
      return this.settle(message, id, afterStart((cur) => ({ ...cur, status: "cancelled", error, finishedAt, attemptLog: settleAttempt(cur.attemptLog, "cancelled", error) })), record);
    }
    if (failure instanceof AttemptAbort && failure.kind === "shutdown") {
      // The worker is stopping: hand the task back without counting the attempt.
      await this.save(id, afterStart((cur) => ({ ...cur, status: "queued", attempts: Math.max(0, cur.attempts - 1), attemptLog: settleAttempt(cur.attemptLog, "requeued", error) })), record);
      log.info({ taskId: id }, "task handed back to the queue: worker shutting down");
      return "release";
    }
    if (failure instanceof TaskFailure) {
      log.info({ taskId: id, err: error }, "task failed");
      return this.settle(message, id, afterStart((cur) => ({ ...cur, status: "failed", error, finishedAt, attemptLog: settleAttempt(cur.attemptLog, "failed", error) })), record);
    }
    const outcome = failure instanceof AttemptAbort && failure.kind === "timeout" ? "timeout" : "error";
    if (attempt >= policy.maxAttempts) {
      const failed = await this.save(id, afterStart((cur) => ({ ...cur, attemptLog: settleAttempt(cur.attemptLog, outcome, error) })), record);
      return this.bury(message, failed ?? record, `Failed ${attempt} of ${policy.maxAttempts} attempts; last error: ${error}`);
    }
    const delayMs = backoffDelay(policy, attempt);
    const nextAttemptAt = new Date(Date.now() + delayMs).toISOString();
    // Record first, then park the message: if the worker dies between the two, the original is simply redelivered.
    await this.save(id, afterStart((cur) => ({ ...cur, status: "retrying", error, nextAttemptAt, attemptLog: settleAttempt(cur.attemptLog, outcome, error) })), record);
    await this.deps.publisher.publishRetry(message.content, carriedProperties(message, id), delayMs);
    log.info({ taskId: id, attempt, delayMs, err: error }, "attempt failed; retrying later");
    return "ack";
  }

  /** Moves a task to the dead-letter queue with its reason, records it dead and replies. */
  private async bury(message: ConsumeMessage, record: TaskRecord, reason: string): Promise<Outcome> {
    const finishedAt = new Date().toISOString();
    let buried = false;
    const dead = await this.save(
      record.id,
      (cur) => {
        buried = !isFinished(cur.status);
        return buried ? { ...cur, status: "dead", error: reason, finishedAt, nextAttemptAt: undefined } : undefined;
      },
      record,
    );
    // Settled meanwhile (an operator cancelled it, or a duplicate delivery got here first): nothing to bury.
    if (!buried) return "ack";
    const properties = carriedProperties(message, record.id);
    properties.headers = { ...properties.headers, [REASON_HEADER]: reason.slice(0, 1000) };
    await this.deps.publisher.publishDead(message.content, properties);
    this.deps.log.warn({ taskId: record.id, reason }, "task is dead: moved to the dead-letter queue");
    if (dead) this.sendReply(message, dead);
    return "ack";
  }

  /** Writes a final outcome (unless the task was settled meanwhile) and replies. */
  private async settle(message: ConsumeMessage, id: string, mutate: (cur: TaskRecord) => TaskRecord | undefined, known?: TaskRecord): Promise<Outcome> {
    const saved = await this.save(id, (cur) => (isFinished(cur.status) ? undefined : mutate(cur)), known);
    if (saved) this.sendReply(message, saved);
    return "ack";
  }

  /** Applies a change to the stored record and pushes the result to browsers. */
  private async save(id: string, mutate: (cur: TaskRecord) => TaskRecord | undefined, known?: TaskRecord): Promise<TaskRecord | undefined> {
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
    if (saved && changed) this.deps.publish(saved);
    if (saved && changed && finishing) this.deps.finished?.(saved);
    return saved;
  }

  private sendReply(message: ConsumeMessage, record: TaskRecord): void {
    const { replyTo, correlationId } = message.properties;
    if (typeof replyTo === "string" && replyTo) this.deps.reply(replyTo, correlationId as string | undefined, record);
  }
}

/** A new record (not yet stored) for a message published by another service, or whose record was lost. */
function recordFromMessage(parsed: ParsedMessage, message: ConsumeMessage): TaskRecord {
  const priority = typeof message.properties.priority === "number" ? Math.min(9, Math.max(0, message.properties.priority)) : 0;
  return { id: parsed.id, type: parsed.type, payload: parsed.payload, status: "queued", progress: 0, priority, attempts: 0, attemptLog: [], createdAt: new Date().toISOString(), version: 0 };
}

/** The properties a retried or dead-lettered copy keeps, with the task id as message id. */
function carriedProperties(message: ConsumeMessage, id: string): Options.Publish {
  const p = message.properties;
  const keep: Options.Publish = { messageId: id, headers: { ...p.headers } };
  if (p.replyTo) keep.replyTo = p.replyTo;
  if (p.correlationId) keep.correlationId = p.correlationId;
  if (p.contentType) keep.contentType = p.contentType;
  if (p.type) keep.type = p.type;
  if (typeof p.priority === "number") keep.priority = p.priority;
  // Headers RabbitMQ adds when dead-lettering would only grow with every retry.
  for (const header of ["x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason", "x-delivery-count"]) delete keep.headers![header];
  return keep;
}

function appendAttempt(log: TaskAttempt[], attempt: TaskAttempt): TaskAttempt[] {
  return [...log, attempt].slice(-MAX_ATTEMPT_LOG);
}

/** Closes the last attempt, if it is still open, with its outcome. */
function settleAttempt(log: TaskAttempt[], outcome: TaskAttempt["outcome"], error?: string): TaskAttempt[] {
  const last = log.at(-1);
  if (!last || last.outcome !== "running") return log;
  return [...log.slice(0, -1), { ...last, outcome, finishedAt: new Date().toISOString(), ...(error ? { error } : {}) }];
}

function abortedPromise(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

interface ParsedMessage {
  id: string;
  type: string;
  payload: unknown;
  /** Set when the message itself is unusable. */
  error?: string;
}

/** Reads a delivery's body; never throws, so a bad message goes dead instead of crashing the worker. */
export function parseMessage(message: Pick<ConsumeMessage, "content" | "properties">): ParsedMessage {
  const messageId = typeof message.properties.messageId === "string" && message.properties.messageId ? message.properties.messageId.slice(0, 200) : undefined;
  const fallbackId = messageId ?? randomUUID();
  const text = message.content.toString("utf8");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { id: fallbackId, type: "(invalid)", payload: null, error: `Message body is not valid JSON (${messageOf(err)}); it starts with: ${JSON.stringify(text.slice(0, 80))}` };
  }
  const result = TaskMessageSchema.safeParse(body);
  if (!result.success) {
    const loose = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    return {
      id: typeof loose.id === "string" && loose.id ? loose.id.slice(0, 200) : fallbackId,
      type: typeof loose.type === "string" && loose.type ? loose.type : "(invalid)",
      payload: loose.payload ?? null,
      error: `Message is not a task: expected JSON {"type": string, "payload"?: object, "id"?: string} (${describeZodError(result.error)})`,
    };
  }
  return { id: result.data.id ?? fallbackId, type: result.data.type, payload: result.data.payload ?? {} };
}

const clamp = (n: number) => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0);
