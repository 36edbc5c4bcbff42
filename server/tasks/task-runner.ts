// Turns one AMQP delivery into a task run: record it, run its handler, report progress, result and reply.
import type { ConsumeMessage } from "amqplib";
import { randomUUID } from "node:crypto";
import { isFinished, TaskMessageSchema, type TaskRecord } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Outcome } from "../queue/consumer";
import type { TaskStore } from "../store/task-store";
import { checkTask } from "./registry";

/** Progress is written to Redis and pushed to browsers at most this often per task. */
const PROGRESS_INTERVAL_MS = 250;

export interface TaskRunnerDeps {
  store: TaskStore;
  /** Pushes a task record to every browser. */
  publish: (record: TaskRecord) => void;
  /** Sends the final record to an AMQP reply_to queue. */
  reply: (replyTo: string, correlationId: string | undefined, record: TaskRecord) => void;
  workerId: string;
  signal: AbortSignal;
  log: Logger;
}

export class TaskRunner {
  constructor(private readonly deps: TaskRunnerDeps) {}

  async run(message: ConsumeMessage): Promise<Outcome> {
    const { store, log } = this.deps;
    const parsed = parseMessage(message);
    const id = parsed.id;
    const existing = await store.get(id);
    if (existing && isFinished(existing.status)) {
      log.info({ taskId: id }, "task already finished; dropping the duplicate delivery");
      return "ack";
    }
    const now = new Date().toISOString();
    const base: TaskRecord = existing ?? {
      id,
      type: parsed.type,
      payload: parsed.payload,
      status: "queued",
      progress: 0,
      attempts: 0,
      createdAt: now,
      version: 0,
    };

    if (parsed.error !== undefined) {
      await this.finish(message, { ...base, status: "failed", error: parsed.error, attempts: base.attempts + 1, finishedAt: now, worker: this.deps.workerId, version: base.version + 1 });
      log.warn({ taskId: id, err: parsed.error }, "rejected a bad task message");
      return "ack";
    }
    const check = checkTask(base.type, base.payload);
    if (!check.ok) {
      await this.finish(message, { ...base, status: "failed", error: check.error, attempts: base.attempts + 1, finishedAt: now, worker: this.deps.workerId, version: base.version + 1 });
      log.warn({ taskId: id, err: check.error }, "rejected a task");
      return "ack";
    }

    let record: TaskRecord = { ...base, status: "running", progress: 0, attempts: base.attempts + 1, startedAt: now, worker: this.deps.workerId, version: base.version + 1 };
    // Writes for one task go through one chain so versions reach Redis in order.
    let writes = this.write(record);
    let lastProgressAt = 0;
    log.info({ taskId: id, type: record.type, attempt: record.attempts }, "task started");

    const progress = (fraction: number) => {
      const at = Date.now();
      if (at - lastProgressAt < PROGRESS_INTERVAL_MS) return;
      lastProgressAt = at;
      record = { ...record, progress: clamp(fraction), version: record.version + 1 };
      const snapshot = record;
      writes = writes.then(() => this.write(snapshot)).catch((err: unknown) => log.warn({ taskId: id, err: messageOf(err) }, "progress not saved"));
    };

    let final: TaskRecord;
    try {
      const result = await check.definition.run(check.payload, { progress, signal: this.deps.signal });
      final = { ...record, status: "succeeded", progress: 1, result: result ?? null, finishedAt: new Date().toISOString() };
      log.info({ taskId: id }, "task succeeded");
    } catch (err) {
      final = { ...record, status: "failed", error: messageOf(err), finishedAt: new Date().toISOString() };
      log.info({ taskId: id, err: messageOf(err) }, "task failed");
    }
    await writes;
    await this.finish(message, { ...final, version: record.version + 1 });
    return "ack";
  }

  private async write(record: TaskRecord): Promise<void> {
    await this.deps.store.save(record);
    this.deps.publish(record);
  }

  private async finish(message: ConsumeMessage, record: TaskRecord): Promise<void> {
    await this.write(record);
    const { replyTo, correlationId } = message.properties;
    if (typeof replyTo === "string" && replyTo) this.deps.reply(replyTo, correlationId as string | undefined, record);
  }
}

interface ParsedMessage {
  id: string;
  type: string;
  payload: unknown;
  /** Set when the message itself is unusable. */
  error?: string;
}

/** Reads a delivery's body; never throws, so a bad message becomes a failed task instead of a crash. */
export function parseMessage(message: Pick<ConsumeMessage, "content" | "properties">): ParsedMessage {
  const messageId = typeof message.properties.messageId === "string" && message.properties.messageId ? message.properties.messageId : undefined;
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

