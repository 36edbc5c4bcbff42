// The typed contract shared by the web node, the worker, the dashboard and the tests.
import { z } from "zod";

/** Largest JSON body the HTTP API reads; bigger bodies get 413. */
export const MAX_BODY_BYTES = 64 * 1024;

export const TASK_STATUSES = ["queued", "running", "succeeded", "failed"] as const;
export const TaskStatusSchema = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

export const FINISHED_STATUSES: readonly TaskStatus[] = ["succeeded", "failed"];
export const isFinished = (status: TaskStatus) => FINISHED_STATUSES.includes(status);

/** A task payload: a JSON object. */
export const PayloadSchema = z.record(z.string(), z.unknown());
export type Payload = z.infer<typeof PayloadSchema>;

/** Body of `POST /api/tasks` and of the `task:submit` socket event. */
export const SubmitTaskSchema = z.strictObject({
  type: z.string({ error: "type must be a string naming a task type" }).min(1, "type must not be empty"),
  payload: PayloadSchema.optional(),
});
export type SubmitTask = z.infer<typeof SubmitTaskSchema>;

/** A task message on the AMQP queue, as any service may publish it. */
export const TaskMessageSchema = z.object({
  type: z.string().min(1),
  payload: PayloadSchema.optional(),
  id: z.string().min(1).max(200).optional(),
});
export type TaskMessage = z.infer<typeof TaskMessageSchema>;

const isoDate = z.string();

/** A task as stored in Redis and served by `GET /api/tasks/:id`. */
export const TaskRecordSchema = z.object({
  id: z.string(),
  type: z.string(),
  payload: z.unknown(),
  status: TaskStatusSchema,
  /** 0..1 */
  progress: z.number().min(0).max(1),
  attempts: z.number().int().min(0),
  result: z.unknown().optional(),
  error: z.string().optional(),
  createdAt: isoDate,
  startedAt: isoDate.optional(),
  finishedAt: isoDate.optional(),
  /** `host:pid` of the worker that ran (or runs) the task. */
  worker: z.string().optional(),
  /** Bumped on every write, so a client keeps the newest copy whatever order events arrive in. */
  version: z.number().int().min(1),
});
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

/** `GET /api/queue` and the `queue:stats` event. */
export const QueueStatsSchema = z.object({
  queue: z.string(),
  ready: z.number().int().min(0),
  unacked: z.number().int().min(0),
  consumers: z.number().int().min(0),
});
export type QueueStats = z.infer<typeof QueueStatsSchema>;

export const BROADCAST_SOURCES = ["dashboard", "api", "redis"] as const;
export const BroadcastSourceSchema = z.enum(BROADCAST_SOURCES);
export type BroadcastSource = z.infer<typeof BroadcastSourceSchema>;

/** A broadcast as delivered to tabs and kept in history. `id` increases monotonically. */
export const BroadcastSchema = z.object({
  id: z.string(),
  message: z.string(),
  source: BroadcastSourceSchema,
  at: isoDate,
});
export type Broadcast = z.infer<typeof BroadcastSchema>;

/** Body of `POST /api/broadcasts` and of the `broadcast:send` socket event. */
export const SendBroadcastSchema = z.strictObject({
  message: z
    .string({ error: "message must be a string" })
    .refine((m) => m.trim().length > 0, "message must not be empty"),
});
export type SendBroadcast = z.infer<typeof SendBroadcastSchema>;

/** What an outside service may PUBLISH on the broadcast channel as JSON (plain text works too). */
export const ExternalBroadcastSchema = z.object({ message: z.string() });

export const ListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export const TaskListQuerySchema = ListQuerySchema.extend({
  status: TaskStatusSchema.optional(),
});

/** A task type as offered to the dashboard by `GET /api/task-types`. */
export const TaskTypeInfoSchema = z.object({
  name: z.string(),
  description: z.string(),
  example: PayloadSchema,
});
export type TaskTypeInfo = z.infer<typeof TaskTypeInfoSchema>;

export type HealthState = "up" | "down";
export interface Health {
  status: "ok" | "degraded";
  rabbitmq: HealthState;
  redis: HealthState;
}

/** Reply of socket events that submit something. */
export type SubmitAck = { id: string } | { error: string };

/** Error body of every failed HTTP request. */
export interface ApiErrorBody {
  error: string;
  code: string;
}
