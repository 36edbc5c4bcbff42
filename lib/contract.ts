// The typed contract shared by the web node, the worker, the dashboard and the tests.
import { z } from "./zod";

/** Largest JSON body the HTTP API reads; bigger bodies get 413. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * - scheduled: submitted with `runAt` or `delayMs`; waits in Redis (not in RabbitMQ) until `runAt`, then queued.
 * - queued: waiting on the work queue.
 * - running: a worker holds it.
 * - retrying: an attempt failed; RabbitMQ holds it in a retry queue until `nextAttemptAt`.
 * - stalled: its worker stopped beating mid-run; RabbitMQ redelivers it.
 * - succeeded, failed (the handler threw TaskFailure: retrying cannot help), dead (attempts exhausted
 *   or an unusable message; kept in the dead-letter queue), cancelled: final.
 */
export const TASK_STATUSES = ["scheduled", "queued", "running", "retrying", "stalled", "succeeded", "failed", "dead", "cancelled"] as const;
export const TaskStatusSchema = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

export const FINISHED_STATUSES: readonly TaskStatus[] = ["succeeded", "failed", "dead", "cancelled"];
export const isFinished = (status: TaskStatus) => FINISHED_STATUSES.includes(status);
// Which status changes are legal, and what they write, is lib/task-lifecycle.ts.

/** RabbitMQ message priority: 0 (default, lowest) to 9. */
export const MAX_PRIORITY = 9;
export const PrioritySchema = z
  .number({ error: "priority must be an integer from 0 to 9" })
  .int("priority must be an integer from 0 to 9")
  .min(0, "priority must be from 0 to 9")
  .max(MAX_PRIORITY, "priority must be from 0 to 9");

/** A task payload: a JSON object. */
export const PayloadSchema = z.record(z.string(), z.unknown());
export type Payload = z.infer<typeof PayloadSchema>;

/** Longest a task may be scheduled ahead (`runAt` or `delayMs`): 30 days. */
export const MAX_DELAY_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * When a task is to run: `runAt` (an ISO 8601 time with its offset) or `delayMs` (from now), never both; neither
 * runs it at once. Each submission path (HTTP, socket, AMQP body) takes these fields.
 */
export const DelayFields = {
  runAt: z.iso.datetime({ offset: true, error: "runAt must be an ISO 8601 time with a time zone, e.g. 2026-12-01T18:30:00Z" }).optional(),
  delayMs: z
    .number({ error: "delayMs must be a whole number of milliseconds" })
    .int("delayMs must be a whole number of milliseconds")
    .positive("delayMs must be more than 0")
    .max(MAX_DELAY_MS, `delayMs must be at most ${MAX_DELAY_MS} (30 days)`)
    .optional(),
};
export type DelayRequest = { runAt?: string; delayMs?: number };

/**
 * The time (ISO, UTC) a task asking for `delay` runs at, undefined to run it now, or why the request is refused:
 * both fields at once, a `runAt` not in the future, or more than 30 days ahead. `late: "run-now"` (an AMQP
 * message, read when a worker gets to it: it may have waited in the queue past its runAt) runs a due task now.
 */
export function scheduledRunAt(delay: DelayRequest, nowMs: number, late: "refuse" | "run-now" = "refuse"): { ok: true; runAt?: string } | { ok: false; error: string } {
  if (delay.runAt !== undefined && delay.delayMs !== undefined) return { ok: false, error: "send either runAt or delayMs, not both" };
  if (delay.delayMs !== undefined) return { ok: true, runAt: new Date(nowMs + delay.delayMs).toISOString() };
  if (delay.runAt === undefined) return { ok: true };
  const at = Date.parse(delay.runAt);
  if (!(at > nowMs) && late === "run-now") return { ok: true };
  if (!(at > nowMs)) return { ok: false, error: `runAt ${delay.runAt} is not in the future; leave runAt out to run the task now` };
  if (at - nowMs > MAX_DELAY_MS) return { ok: false, error: `runAt ${delay.runAt} is more than 30 days ahead` };
  return { ok: true, runAt: new Date(at).toISOString() };
}

// A submission's schema checks what needs no clock (both fields at once); its time is checked by the web node
// against Redis's clock (submission.ts). An AMQP message's is checked here, by the worker reading it.
const refineDelay = (clock: "none" | "local") => (task: DelayRequest, ctx: z.RefinementCtx) => {
  // Most tasks run now: no clock read for them (the worker parses every message through this).
  if (task.runAt === undefined && task.delayMs === undefined) return;
  if (clock === "none" && (task.runAt === undefined || task.delayMs === undefined)) return;
  const checked = scheduledRunAt(task, Date.now(), "run-now");
  if (!checked.ok) ctx.addIssue({ code: "custom", message: checked.error, path: [task.runAt === undefined ? "delayMs" : "runAt"] });
};

/** Body of `POST /api/tasks` and of the `task:submit` socket event. */
export const SubmitTaskSchema = z
  .strictObject({
    type: z.string({ error: "type must be a string naming a task type" }).min(1, "type must not be empty"),
    payload: PayloadSchema.optional(),
    /** @defaultValue 0 */
    priority: PrioritySchema.optional(),
    ...DelayFields,
  })
  .superRefine(refineDelay("none"));
export type SubmitTask = z.infer<typeof SubmitTaskSchema>;

/** Most tasks in one `POST /api/tasks/batch` or `task:submitBatch`. */
export const MAX_BATCH_TASKS = 1000;
/** Largest batch, as a JSON body or socket event; bigger gets 413. Each task in it is also held to MAX_BODY_BYTES. */
export const MAX_BATCH_BODY_BYTES = 1024 * 1024;

/** Body of `POST /api/tasks/batch` and of the `task:submitBatch` socket event: 1 to MAX_BATCH_TASKS tasks. */
export const SubmitBatchSchema = z.strictObject({
  tasks: z
    .array(SubmitTaskSchema, { error: "tasks must be an array of tasks" })
    .min(1, "tasks must hold at least one task")
    .max(MAX_BATCH_TASKS, `tasks may hold at most ${MAX_BATCH_TASKS} tasks`),
});
export type SubmitBatch = z.infer<typeof SubmitBatchSchema>;

/** Longest accepted `Idempotency-Key` header. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

/** Body of `POST /api/tasks/:id/retry`: optionally run with an edited payload. */
export const RetryTaskSchema = z.strictObject({ payload: PayloadSchema.optional() });
export type RetryTask = z.infer<typeof RetryTaskSchema>;

/**
 * A web node's request that the worker running a task abort it, published as JSON on the Redis channel
 * `<KEY_PREFIX>:task:cancel`; every worker hears it and the one running the task aborts its handler.
 */
export const TaskCancelRequestSchema = z.object({ v: z.literal(1), taskId: z.string().min(1) });
export type TaskCancelRequest = z.infer<typeof TaskCancelRequestSchema>;

/** Published by a web node on `<KEY_PREFIX>:queue:pauses` when an operator pauses or resumes `queue`; the state is in Redis. */
export const QueuePauseChangeSchema = z.object({ v: z.literal(1), queue: z.string().min(1) });
export type QueuePauseChange = z.infer<typeof QueuePauseChangeSchema>;

/** Answer of `POST /api/queues/:queue/pause` and `/resume`: the state now, and whether this call changed it. */
export const QueuePauseAckSchema = z.object({ queue: z.string(), paused: z.boolean(), changed: z.boolean() });
export type QueuePauseAck = z.infer<typeof QueuePauseAckSchema>;

/** Most ids one `POST /api/dead-letters/retry` or `/discard` names; `{"all": true}` has no limit. */
export const MAX_BULK_IDS = 1000;
/** Body of `POST /api/dead-letters/retry` and `/discard`: some dead letters by id, or all of them. */
export const DeadLetterBulkSchema = z.union([
  z.strictObject({ ids: z.array(z.string().min(1).max(200)).min(1).max(MAX_BULK_IDS) }),
  z.strictObject({ all: z.literal(true) }),
]);
export type DeadLetterBulk = z.infer<typeof DeadLetterBulkSchema>;
export type DeadLetterBulkAction = "retry" | "discard";
/** A task a bulk action left alone, and why. */
export const BulkSkipSchema = z.object({ id: z.string(), reason: z.string() });
/** Answer of a bulk action: how many tasks it moved, and those it skipped. */
export const DeadLetterBulkAckSchema = z.object({ count: z.number().int(), skipped: z.array(BulkSkipSchema) });
export type DeadLetterBulkAck = z.infer<typeof DeadLetterBulkAckSchema>;
/** Progress of a bulk action, after each batch (`deadLetters:progress` to every tab). */
export const DeadLetterBulkProgressSchema = z.object({
  action: z.enum(["retry", "discard"]),
  /** Tasks looked at so far, of `total`. */
  done: z.number().int(),
  total: z.number().int(),
  /** Moved so far; the rest of `done` was skipped. */
  count: z.number().int(),
  finished: z.boolean(),
  by: z.string(),
});
export type DeadLetterBulkProgress = z.infer<typeof DeadLetterBulkProgressSchema>;

/**
 * A task message on the AMQP queue, as any service may publish it. `runAt` or `delayMs` (counted from when a
 * worker reads the message) schedule it: the worker records it `scheduled` and a web node queues it at that time.
 * A `runAt` already past when a worker reads the message (it waited in the queue) runs the task now.
 */
export const TaskMessageSchema = z
  .object({
    type: z.string().min(1),
    payload: PayloadSchema.optional(),
    id: z.string().min(1).max(200).optional(),
    ...DelayFields,
  })
  .superRefine(refineDelay("local"));
export type TaskMessage = z.infer<typeof TaskMessageSchema>;

const isoDate = z.string();

export const ATTEMPT_OUTCOMES = ["running", "succeeded", "failed", "error", "timeout", "interrupted", "cancelled", "requeued"] as const;
/** One run of a task by a worker. `interrupted`: the worker died or lost its connection mid-run; `requeued`: it shut down. */
export const TaskAttemptSchema = z.object({
  attempt: z.number().int().min(1),
  worker: z.string(),
  startedAt: isoDate,
  finishedAt: isoDate.optional(),
  outcome: z.enum(ATTEMPT_OUTCOMES),
  error: z.string().optional(),
});
export type TaskAttempt = z.infer<typeof TaskAttemptSchema>;
/** Most attempts kept in a record's `attemptLog` (the oldest go first). */
export const MAX_ATTEMPT_LOG = 25;

/** A task as stored in Redis and served by `GET /api/tasks/:id`. */
export const TaskRecordSchema = z.object({
  id: z.string(),
  type: z.string(),
  payload: z.unknown(),
  status: TaskStatusSchema,
  /** 0..1 */
  progress: z.number().min(0).max(1),
  priority: z.number().int().min(0).max(MAX_PRIORITY).default(0),
  /**
   * Which run of the task this is: 1 (absent), then one more for each operator retry. Messages carry it (header
   * `x-taskcast-run`), so a message or an attempt of an earlier run changes nothing.
   */
  run: z.number().int().min(1).optional(),
  /** Attempts started since submission (or since an operator's retry). */
  attempts: z.number().int().min(0),
  /** Attempts allowed before the task goes dead; from its task type. */
  maxAttempts: z.number().int().min(1).optional(),
  /** For a task submitted with `runAt` or `delayMs`: when it is (or was) queued. */
  runAt: isoDate.optional(),
  /** When status is `retrying`: when RabbitMQ hands it back to a worker. */
  nextAttemptAt: isoDate.optional(),
  result: z.unknown().optional(),
  /** Why the task failed, went dead or was cancelled; for `retrying`, the last attempt's error. */
  error: z.string().optional(),
  createdAt: isoDate,
  startedAt: isoDate.optional(),
  finishedAt: isoDate.optional(),
  /** Id (`host:pid:tag`) of the worker that ran (or runs) the task. */
  worker: z.string().optional(),
  attemptLog: z.array(TaskAttemptSchema).default([]),
  /** Set when an operator cancels a running task; the worker aborts its handler. */
  cancelRequested: z.boolean().optional(),
  /**
   * Set on a task cancelled while its message waited in a queue, until a worker meets and drops that message:
   * until then history retention keeps the record, so the delivery still finds it cancelled.
   */
  awaitingDelivery: z.boolean().optional(),
  /**
   * The reply to the message's reply_to, for a task that has one: `sending` while a worker publishes it (a
   * claim, so concurrent deliveries send one reply), `sent` once RabbitMQ confirmed it.
   */
  reply: z.object({ state: z.enum(["sending", "sent"]), at: isoDate, claim: z.string().optional() }).optional(),
  /** Set when an operator discards a dead task: it leaves the dead-letter list and queue, and stays dead. */
  discardedAt: isoDate.optional(),
  /** Set when an operator ran a finished task again. */
  retriedAt: isoDate.optional(),
  /** The name of the recurring schedule whose tick queued the task (absent: submitted otherwise). */
  schedule: z.string().optional(),
  /** With `schedule`: the tick (its time, as the cron says) that queued the task. */
  scheduleTick: isoDate.optional(),
  /**
   * Set on a live copy (socket events, lists) whose payload was left out because its JSON is larger than
   * LIVE_VALUE_MAX_BYTES: the size in bytes. `GET /api/tasks/:id` always has the whole record.
   */
  payloadBytes: z.number().int().optional(),
  /** The same for the result. */
  resultBytes: z.number().int().optional(),
  /**
   * The attempt a worker is starting: set with its read of the task, before the handler runs, and gone once the
   * attempt is written (when it ends, or once it has run 100 ms). A cancel in between records this attempt as
   * running, and asks its worker to stop it, rather than taking the task for one that never ran. Kept in its own
   * field in Redis, never in the record's JSON.
   */
  claim: z.object({ worker: z.string(), startedAt: isoDate, maxAttempts: z.number().int().min(1), run: z.number().int().min(1) }).optional(),
  /** Bumped on every write, so a client keeps the newest copy whatever order events arrive in. */
  version: z.number().int().min(1),
});
export type TaskRecord = z.infer<typeof TaskRecordSchema>;
/** A worker's claim on a task it is about to run (see TaskRecord's `claim`). */
export const TaskClaimSchema = TaskRecordSchema.shape.claim.unwrap();
export type TaskClaim = z.infer<typeof TaskClaimSchema>;

/** Payloads and results larger than this (as JSON) are left out of live copies, so a huge one never floods a tab. */
export const LIVE_VALUE_MAX_BYTES = 8 * 1024;

/** The copy of a record sent to tabs and in lists: payload and result over LIVE_VALUE_MAX_BYTES become null with their size. */
export function liveCopy(record: TaskRecord): TaskRecord {
  let copy = record;
  const payloadBytes = jsonBytes(record.payload);
  if (payloadBytes > LIVE_VALUE_MAX_BYTES) copy = { ...copy, payload: null, payloadBytes };
  const resultBytes = jsonBytes(record.result);
  if (resultBytes > LIVE_VALUE_MAX_BYTES) copy = { ...copy, result: null, resultBytes };
  return copy;
}

function jsonBytes(value: unknown): number {
  if (value === undefined) return 0;
  const text = JSON.stringify(value) ?? "";
  // UTF-8 is at most 3 bytes per UTF-16 unit; count exactly only when it could matter.
  return text.length * 3 <= LIVE_VALUE_MAX_BYTES ? text.length : new TextEncoder().encode(text).length;
}

/** `GET /api/queue` and the `queue:stats` event. */
export const QueueStatsSchema = z.object({
  queue: z.string(),
  ready: z.number().int().min(0),
  unacked: z.number().int().min(0),
  consumers: z.number().int().min(0),
  /** Messages in the dead-letter queue (TASK_QUEUE + ".dead"). */
  dead: z.number().int().min(0),
  /** An operator paused the queue (`POST /api/queues/:queue/pause`): its workers take no new deliveries. */
  paused: z.boolean(),
});
export type QueueStats = z.infer<typeof QueueStatsSchema>;

/**
 * One queue of `GET /api/queues` and the `queues:stats` event: TASK_QUEUE, then each queue an outside worker
 * announced. `unacked` of an outside queue is the sum of `inflight` its live workers announce.
 */
export const QueueDepthSchema = QueueStatsSchema.extend({
  /** false: RabbitMQ has no such queue (yet); every count is then 0. */
  exists: z.boolean(),
  /**
   * Where the queue's dead letters go (every queue's: TASK_QUEUE + ".dead"). `dead` counts them once, on the entry
   * of TASK_QUEUE; the other entries say 0, so the entries add up to the dead-letter queue's depth.
   */
  deadLetterQueue: z.string(),
});
export type QueueDepth = z.infer<typeof QueueDepthSchema>;

/** `GET /api/queues` and the `queues:stats` event: TASK_QUEUE first, then the other queues by name. */
export const QueueListSchema = z.object({ queues: z.array(QueueDepthSchema) });
export type QueueList = z.infer<typeof QueueListSchema>;

export const BROADCAST_SOURCES = ["dashboard", "api", "redis"] as const;
export const BroadcastSourceSchema = z.enum(BROADCAST_SOURCES);
export type BroadcastSource = z.infer<typeof BroadcastSourceSchema>;

/** The channel of a broadcast that names none. */
export const DEFAULT_BROADCAST_CHANNEL = "general";
export const ChannelNameSchema = z
  .string({ error: "channel must be a string" })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, "channel must be 1 to 64 letters, digits, '_', '-', '.' or ':', starting with a letter or digit");

/** A broadcast as delivered to tabs and kept in history. `id` is a decimal counter, increasing across all channels. */
export const BroadcastSchema = z.object({
  id: z.string(),
  message: z.string(),
  channel: z.string().default(DEFAULT_BROADCAST_CHANNEL),
  source: BroadcastSourceSchema,
  at: isoDate,
});
export type Broadcast = z.infer<typeof BroadcastSchema>;

/** Body of `POST /api/broadcasts` and of the `broadcast:send` socket event. */
export const SendBroadcastSchema = z.strictObject({
  message: z
    .string({ error: "message must be a string" })
    .refine((m) => m.trim().length > 0, "message must not be empty"),
  /** @defaultValue "general" */
  channel: ChannelNameSchema.optional(),
});
export type SendBroadcast = z.infer<typeof SendBroadcastSchema>;

/** What an outside service may PUBLISH on the broadcast channel as JSON (plain text works too). */
export const ExternalBroadcastSchema = z.object({ message: z.string(), channel: z.string().optional() });

/**
 * What a tab states in its Socket.IO handshake (`auth`): the channels it follows (absent or null: all)
 * and the id of the last broadcast it has, so the server sends what it missed.
 */
export const BroadcastSubscriptionSchema = z.object({
  channels: z.array(ChannelNameSchema).max(100).nullish(),
  lastBroadcastId: z.string().regex(/^\d{1,20}$/).nullish(),
});
export type BroadcastSubscription = z.infer<typeof BroadcastSubscriptionSchema>;

/**
 * The live streams a tab may choose to receive, each one server-to-client event (see STREAM_EVENTS in
 * lib/socket-events.ts): `tasks` (task:update), `queue` (queue:stats), `queues` (queues:stats), `workers` (workers:update), `web-nodes`
 * (web-nodes:update), `stats` (stats:tick), `presence`, `health`, `channels` (broadcast:channels) and `schedules` (schedules:update).
 * Broadcasts (`broadcast:follow` chooses their channels) and `audit:entry` are not streams: they always arrive.
 */
export const LIVE_STREAMS = ["tasks", "queue", "queues", "workers", "web-nodes", "stats", "presence", "health", "channels", "schedules"] as const;
const STREAM_NAMES = LIVE_STREAMS.join(", ");
export const LiveStreamSchema = z.enum(LIVE_STREAMS, { error: (issue) => `${JSON.stringify(issue.input) ?? "undefined"} is not a live stream; the streams are ${STREAM_NAMES}` });
export type LiveStream = z.infer<typeof LiveStreamSchema>;

/**
 * The streams a socket receives, in its handshake (`auth.streams`) and in `streams:follow`: null or absent for all.
 * @defaultValue null (every stream)
 */
export const StreamSelectionSchema = z
  .array(LiveStreamSchema, { error: `must be an array of stream names (${STREAM_NAMES}), or null for all` })
  .max(100, "may name at most 100 streams")
  .nullish();
export type StreamSelection = z.infer<typeof StreamSelectionSchema>;

/** The streams a selection means: every stream for null or absent, otherwise each one named, once, in LIVE_STREAMS order. */
export function selectedStreams(selection: StreamSelection): LiveStream[] {
  return selection === null || selection === undefined ? [...LIVE_STREAMS] : LIVE_STREAMS.filter((stream) => selection.includes(stream));
}

/** A socket's handshake `auth`: its broadcast subscription and the streams it receives (and, apart, a service's token). */
export const HandshakeAuthSchema = BroadcastSubscriptionSchema.extend({ streams: StreamSelectionSchema });
export type HandshakeAuth = z.infer<typeof HandshakeAuthSchema>;

/**
 * Sent to a tab on every connection and in reply to `broadcast:follow`: the broadcasts it missed since
 * `lastBroadcastId` (or the recent history), oldest first, in the channels it follows. `gap` is true when
 * some it missed are no longer in the history (more than BROADCAST_HISTORY broadcasts ago).
 */
export interface BroadcastCatchUp {
  broadcasts: Broadcast[];
  gap: boolean;
  /** The newest broadcast id of any channel, or null before the first broadcast. */
  latestId: string | null;
}

/** Connected tabs, across the cluster and per web node; pushed as `presence`. */
export interface Presence {
  total: number;
  nodes: Array<{ id: string; connections: number }>;
}

/** Channels that have had broadcasts, most recently used first; pushed as `broadcast:channels`. */
export interface ChannelList {
  channels: string[];
}

export const ListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
/** `GET /api/broadcasts`: `channels` is a comma-separated list (default: all). */
export const BroadcastListQuerySchema = ListQuerySchema.extend({
  channels: z
    .string()
    .transform((v) => v.split(",").filter(Boolean))
    .pipe(z.array(ChannelNameSchema))
    .optional(),
  after: z.string().regex(/^\d{1,20}$/, "after must be a broadcast id").optional(),
});
export const TaskListQuerySchema = ListQuerySchema.extend({
  status: TaskStatusSchema.optional(),
});

/** Reply of `POST /api/tasks` (202, or 200 for a repeated Idempotency-Key) and the task actions. */
export interface TaskAck {
  id: string;
  status: TaskStatus;
}

/** A task type as offered to the dashboard by `GET /api/task-types`. */
export const TaskTypeInfoSchema = z.object({
  name: z.string(),
  description: z.string(),
  example: PayloadSchema,
  /** The queue of a type an outside worker announced (absent: a built-in type, on TASK_QUEUE). */
  queue: z.string().optional(),
});
export type TaskTypeInfo = z.infer<typeof TaskTypeInfoSchema>;

export type HealthState = "up" | "down";
export interface Health {
  status: "ok" | "degraded";
  rabbitmq: HealthState;
  redis: HealthState;
}

/** Reply of socket events that submit something; `code` is the HTTP API's error code for the same refusal. */
export type SubmitAck = { id: string } | { error: string; code?: string };

/**
 * The `task:submit` socket event's input: the task, and optionally the Idempotency-Key an HTTP client sends
 * as a header (a socket has no headers).
 */
export type SocketSubmitTask = SubmitTask & { idempotencyKey?: string };
/** Reply of `task:submit`: what `POST /api/tasks` answers (`replayed` for a repeated Idempotency-Key), or an error. */
export type TaskSubmitAck = (TaskAck & { replayed: boolean }) | { error: string; code?: string };

/** Reply of `POST /api/tasks/batch` (202, or 200 for a repeated Idempotency-Key): one entry per task, in the order sent. */
export interface BatchAck {
  tasks: TaskAck[];
}
/** The `task:submitBatch` socket event's input: the batch, and optionally its Idempotency-Key. */
export type SocketSubmitBatch = SubmitBatch & { idempotencyKey?: string };
/** Reply of `task:submitBatch`: what `POST /api/tasks/batch` answers, or an error. */
export type BatchSubmitAck = (BatchAck & { replayed: boolean }) | { error: string; code?: string };

/** Error body of every failed HTTP request. */
export interface ApiErrorBody {
  error: string;
  code: string;
}
