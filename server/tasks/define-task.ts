// The shape of a task type: a payload schema, one handler, and how it is retried.
import type { z } from "zod";
import type { Payload } from "../../lib/contract";

export interface TaskContext {
  /** Report progress in 0..1; cheap to call often (the worker throttles writes). */
  progress(fraction: number): void;
  /**
   * A log line for the task's page, `GET /api/tasks/:id/logs` and the worker's log (with the task id). The newest 200
   * lines of each attempt are kept with the task, each at most 2 KiB (message and fields as JSON; longer ones are cut
   * and say so). Cheap: lines are written to Redis in batches, at most every 250 ms and at the attempt's end.
   */
  log(message: string, fields?: Record<string, unknown>): void;
  /** Aborted when the attempt times out, an operator cancels the task, or the worker shuts down past its grace period. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  taskId: string;
}

export interface RetryPolicy {
  /** Attempts before the task goes dead. @defaultValue 3 */
  maxAttempts: number;
  /** Wait before the second attempt; doubles for each one after. @defaultValue 1000 */
  backoffMs: number;
  /** Longest wait between attempts. @defaultValue 300000 (5 minutes) */
  maxBackoffMs: number;
  /** An attempt still running after this long is aborted and counts as failed. @defaultValue 60000 */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 5 * 60_000, timeoutMs: 60_000 };

export interface TaskDefinition<S extends z.ZodType<Payload> = z.ZodType<Payload>> {
  name: string;
  description: string;
  /** Shown pre-filled in the dashboard's submit form. */
  example: Payload;
  payload: S;
  /** Handlers run at least once: write them so that running twice does no harm (see the README). */
  run(payload: z.output<S>, ctx: TaskContext): Promise<unknown>;
  retry?: Partial<RetryPolicy>;
  /**
   * How its tasks are tracked. `full` (the default): every task has a record, live in every tab. `summary`, for
   * very high volumes: a task that succeeds within its first attempt is only counted; one that fails, is retried,
   * runs long (past 100 ms), owes a reply or is redelivered gets a record as usual. See "Summary tracking" in
   * docs/operations.md. TASK_TRACK_SUMMARY turns it on for a type without changing its code.
   */
  track?: "full" | "summary";
}

/** Identity helper that keeps the payload type of `run` tied to the schema. */
export function defineTask<S extends z.ZodType<Payload>>(def: TaskDefinition<S>): TaskDefinition<S> {
  const policy = retryPolicy(def as unknown as TaskDefinition);
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new Error(`task type ${def.name}: retry.maxAttempts must be an integer of at least 1`);
  if (!(policy.backoffMs > 0) || !(policy.maxBackoffMs >= policy.backoffMs)) throw new Error(`task type ${def.name}: retry.backoffMs must be positive and at most maxBackoffMs`);
  if (!(policy.timeoutMs > 0)) throw new Error(`task type ${def.name}: retry.timeoutMs must be positive`);
  return def;
}

export function retryPolicy(def: TaskDefinition): RetryPolicy {
  return { ...DEFAULT_RETRY, ...def.retry };
}

/** How long RabbitMQ holds a task after failed attempt `attempt` (1-based): exponential, capped. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, attempt - 1));
}

/** Thrown by a handler for an expected failure that retrying cannot fix: the task fails at once, without retries. */
export class TaskFailure extends Error {}
