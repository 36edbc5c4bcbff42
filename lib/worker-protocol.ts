// Worker protocol v1 (docs/worker-protocol.md): the messages an outside worker (PHP, Python, Go...) publishes
// to `<TASK_QUEUE>.events`, and Taskcast's answer to a `running` report that asks for one.
import { z } from "zod";
import { PayloadSchema } from "./contract";
import { describeZodError } from "./zod-message";

/** The protocol version this Taskcast speaks. */
export const WORKER_PROTOCOL_VERSION = 1;

/** The queue outside workers publish their announcements and reports to. */
export const eventsQueueName = (taskQueue: string) => `${taskQueue}.events`;

/** An outside worker not heard from for this long is gone: its types leave the submit form, its running tasks stall. */
export const OUTSIDE_WORKER_LIVE_MS = 15_000;

/** The largest event accepted (a `succeeded` report carries the task's result). */
export const MAX_WORKER_EVENT_BYTES = 1024 * 1024;

const Id = z.string().min(1).max(200);

/** AMQP short strings (a routing key, a correlation id) hold at most 255 bytes. */
const fitsShortString = (s: string) => new TextEncoder().encode(s).length <= 255;

/** One task type an outside worker runs. */
export const AnnouncedTypeSchema = z.object({
  name: z.string().min(1).max(100),
  description: z.string().max(500).optional(),
  /** Pre-filled in the dashboard's submit form. */
  example: PayloadSchema.optional(),
});
export type AnnouncedType = z.infer<typeof AnnouncedTypeSchema>;

/** `{"kind": "worker"}`: published at least every 5 s; says who the worker is, what it consumes and how busy it is. */
export const WorkerAnnounceSchema = z.object({
  kind: z.literal("worker"),
  v: z.literal(WORKER_PROTOCOL_VERSION),
  /** Unique per worker process (a new one after each start). */
  worker: Id,
  /** The queue it consumes. */
  queue: z.string().min(1).max(255),
  types: z.array(AnnouncedTypeSchema).min(1).max(100),
  concurrency: z.number().int().min(1).max(100_000),
  /** Deliveries it holds unacknowledged now. */
  inflight: z.number().int().min(0).max(1_000_000),
  language: z.string().max(40).optional(),
  host: z.string().max(255).optional(),
});
export type WorkerAnnounce = z.infer<typeof WorkerAnnounceSchema>;

export const REPORT_STATUSES = ["running", "succeeded", "failed", "error"] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];

/** `{"kind": "task"}`: how one attempt of a task goes. `failed` and `error` carry the error in words. */
export const TaskReportSchema = z
  .object({
    kind: z.literal("task"),
    v: z.literal(WORKER_PROTOCOL_VERSION),
    /** The task id: the delivery's message_id (and body `id`). */
    id: Id,
    worker: Id,
    status: z.enum(REPORT_STATUSES),
    progress: z.number().min(0).max(1).optional(),
    result: z.unknown().optional(),
    error: z.string().min(1).max(10_000).optional(),
    /** When the worker sent it (informational; Taskcast orders by arrival). */
    at: z.iso.datetime({ offset: true }).optional(),
    /** The delivery's `x-taskcast-run` header, when it has one (an operator's retry is a new run). @defaultValue 1 */
    run: z.number().int().min(1).optional(),
    /**
     * The `attempt` of the verdict that let this delivery run, echoed in every later report of it: a report of an
     * attempt that is over (late, duplicated, redelivered) then changes nothing.
     */
    attempt: z.number().int().min(1).optional(),
    /** In the `running` report asking for the verdict: the delivery's `redelivered` flag (an earlier holder lost it). */
    redelivered: z.boolean().optional(),
    /** The delivery's `reply_to` and `correlation_id` properties, if it had them: Taskcast replies once to the submitter. */
    reply_to: z.string().min(1).refine(fitsShortString, "at most 255 bytes as UTF-8 (an AMQP short string)").optional(),
    correlation_id: z.string().refine(fitsShortString, "at most 255 bytes as UTF-8 (an AMQP short string)").optional(),
  })
  .refine((r) => (r.status !== "failed" && r.status !== "error") || r.error !== undefined, { message: "a failed or error report needs an error string", path: ["error"] });
export type TaskReport = z.infer<typeof TaskReportSchema>;

export const WorkerEventSchema = z.union([WorkerAnnounceSchema, TaskReportSchema]);
export type WorkerEvent = z.infer<typeof WorkerEventSchema>;

/** Why an event was refused, for the malformed-events metric's `reason` label. */
export type MalformedKind = "not-json" | "bad-shape" | "unknown-task" | "not-applicable";

export type ParsedWorkerEvent = { ok: true; event: WorkerEvent } | { ok: false; kind: MalformedKind; reason: string };

/** Reads one message body of the events queue; never throws. */
export function parseWorkerEvent(content: Buffer): ParsedWorkerEvent {
  if (content.length > MAX_WORKER_EVENT_BYTES) return { ok: false, kind: "bad-shape", reason: `too large: ${content.length} bytes, at most ${MAX_WORKER_EVENT_BYTES}` };
  let body: unknown;
  try {
    body = JSON.parse(content.toString("utf8"));
  } catch {
    return { ok: false, kind: "not-json", reason: `not JSON; it starts with ${JSON.stringify(content.toString("utf8").slice(0, 60))}` };
  }
  const kind = typeof body === "object" && body !== null ? (body as { kind?: unknown }).kind : undefined;
  const schema = kind === "worker" ? WorkerAnnounceSchema : kind === "task" ? TaskReportSchema : undefined;
  if (!schema) return { ok: false, kind: "bad-shape", reason: 'not a worker event: expected a JSON object with "kind": "worker" or "task"' };
  const parsed = schema.safeParse(body);
  if (!parsed.success) return { ok: false, kind: "bad-shape", reason: `not a valid "${kind}" event: ${describeZodError(parsed.error)}`.slice(0, 300) };
  return { ok: true, event: parsed.data };
}

/**
 * Taskcast's answer to a `running` report published with `reply_to` (and `correlation_id`): `run` true means
 * the attempt is recorded as running and the worker goes on; false means skip the task (cancelled or settled
 * meanwhile, or not known at all): ack the delivery without running it; or, with status `paused`, requeue it.
 */
export const RunVerdictSchema = z.object({
  v: z.literal(WORKER_PROTOCOL_VERSION),
  id: z.string(),
  run: z.boolean(),
  /**
   * The task's status as recorded after the report; `paused` (with `run` false) when an operator paused the
   * worker's queue: nothing was recorded, put the delivery back (reject with requeue) and wait a second.
   */
  status: z.string(),
  /** Which attempt this is (1 for the first), when `run` is true. */
  attempt: z.number().int().optional(),
});
export type RunVerdict = z.infer<typeof RunVerdictSchema>;
