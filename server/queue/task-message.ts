// A task message on the wire: reading a delivery's body, and the properties every copy of it carries
// (to a retry queue, to the dead-letter queue, back to the work queue).
import type { MessageProperties, Options } from "amqplib";
import { randomUUID } from "node:crypto";
import { MAX_PRIORITY, scheduledRunAt, TaskMessageSchema } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import { messageOf } from "../errors";
import { REASON_HEADER } from "./topology";

/** The header carrying which run of a task a message belongs to (1, then one more for each operator retry). */
export const RUN_HEADER = "x-taskcast-run";

/**
 * Set on every message Taskcast publishes for a task that has a record (submissions, retries, forwards): a
 * summary-tracked type's task (TASK_TRACK_SUMMARY) is then run as a recorded one. Services publishing over
 * AMQP leave it out.
 */
export const RECORDED_HEADER = "x-taskcast-recorded";

/** Whether a message says its task has a record (RECORDED_HEADER). */
export const saysRecorded = (properties: Pick<MessageProperties, "headers">) => properties.headers?.[RECORDED_HEADER] !== undefined;

export interface ParsedMessage {
  id: string;
  type: string;
  payload: unknown;
  /** Which run of the task the message belongs to (RUN_HEADER; 1 without it, as other services publish). */
  run: number;
  /** When the message asks (`runAt` or `delayMs`) to run the task later: the time, ISO. */
  runAt?: string;
  /** Set when the message itself is unusable. */
  error?: string;
}

/** Reads a delivery's body; never throws, so a bad message goes dead instead of crashing the worker. */
export function parseMessage(message: { content: Buffer; properties: Pick<MessageProperties, "messageId" | "headers"> }): ParsedMessage {
  const header = message.properties.headers?.[RUN_HEADER];
  const run = typeof header === "number" && Number.isInteger(header) && header >= 1 ? header : 1;
  const messageId = typeof message.properties.messageId === "string" && message.properties.messageId ? message.properties.messageId.slice(0, 200) : undefined;
  // A new id only for a message that names none (made when needed: most name one).
  const fallback = () => messageId ?? randomUUID();
  const text = message.content.toString("utf8");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { id: fallback(), type: "(invalid)", payload: null, run, error: `Message body is not valid JSON (${messageOf(err)}); it starts with: ${JSON.stringify(text.slice(0, 80))}` };
  }
  const result = TaskMessageSchema.safeParse(body);
  if (!result.success) {
    const loose = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    return {
      id: typeof loose.id === "string" && loose.id ? loose.id.slice(0, 200) : fallback(),
      type: typeof loose.type === "string" && loose.type ? loose.type : "(invalid)",
      payload: loose.payload ?? null,
      run,
      error: `Message is not a task: expected JSON {"type": string, "payload"?: object, "id"?: string, "runAt"?: ISO time | "delayMs"?: integer, at most 30 days ahead} (${describeZodError(result.error)})`,
    };
  }
  const parsed: ParsedMessage = { id: result.data.id ?? fallback(), type: result.data.type, payload: result.data.payload ?? {}, run };
  if (result.data.runAt === undefined && result.data.delayMs === undefined) return parsed;
  // Due already (the message waited in the queue, or is a second copy of one scheduled and queued since): it runs
  // now, and a copy of a task that has a record is handled as any duplicate delivery.
  const when = scheduledRunAt(result.data, Date.now(), "run-now");
  if (when.ok && when.runAt === undefined) return parsed;
  return when.ok ? { ...parsed, runAt: when.runAt } : { ...parsed, error: `Message is not a task: ${when.error}` };
}

/** A message's priority property as a task priority (0 when absent). */
export function messagePriority(properties: Pick<MessageProperties, "priority">): number {
  return typeof properties.priority === "number" ? Math.min(MAX_PRIORITY, Math.max(0, properties.priority)) : 0;
}

/** Headers RabbitMQ adds when it dead-letters a message: a copy that kept them would only grow with every retry. */
const BROKER_HEADERS = ["x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count"];

/**
 * The properties a copy of a task message keeps, with the task id as message id: reply_to and correlation_id
 * (so the submitter still gets its reply), content type, type, priority, timestamp, app id, and the publisher's
 * own headers. RabbitMQ's dead-lettering headers never travel; Taskcast's dead-letter reason travels only
 * with a copy that stays dead (`to: "dead"` sets it), never back to the work queue.
 */
export function carriedProperties(properties: MessageProperties, id: string, to: { queue: "retry" | "work" } | { queue: "dead"; reason: string }): Options.Publish {
  const headers: Record<string, unknown> = { ...properties.headers };
  for (const header of BROKER_HEADERS) delete headers[header];
  delete headers[REASON_HEADER];
  if (to.queue === "dead") headers[REASON_HEADER] = to.reason.slice(0, 1000);
  headers[RECORDED_HEADER] = 1;
  const keep: Options.Publish = { messageId: id, headers };
  if (properties.replyTo) keep.replyTo = properties.replyTo;
  if (properties.correlationId) keep.correlationId = properties.correlationId;
  if (properties.contentType) keep.contentType = properties.contentType;
  if (properties.contentEncoding) keep.contentEncoding = properties.contentEncoding;
  if (properties.type) keep.type = properties.type;
  if (typeof properties.priority === "number") keep.priority = properties.priority;
  if (properties.timestamp !== undefined && properties.timestamp !== null) keep.timestamp = properties.timestamp;
  if (properties.appId) keep.appId = properties.appId;
  return keep;
}
