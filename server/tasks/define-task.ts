// The shape of a task type: a payload schema and one handler.
import type { z } from "zod";
import type { Payload } from "../../lib/contract";

export interface TaskContext {
  /** Report progress in 0..1; cheap to call often (the worker throttles writes). */
  progress(fraction: number): void;
  /** Aborted when the worker shuts down past its grace period. */
  signal: AbortSignal;
}

export interface TaskDefinition<S extends z.ZodType<Payload> = z.ZodType<Payload>> {
  name: string;
  description: string;
  /** Shown pre-filled in the dashboard's submit form. */
  example: Payload;
  payload: S;
  run(payload: z.output<S>, ctx: TaskContext): Promise<unknown>;
}

/** Identity helper that keeps the payload type of `run` tied to the schema. */
export function defineTask<S extends z.ZodType<Payload>>(def: TaskDefinition<S>): TaskDefinition<S> {
  return def;
}

/** Thrown by a handler for an expected failure; its message becomes the task's error. */
export class TaskFailure extends Error {}
