// Every task type the workers run. To add one: write a `defineTask` module beside this file and list it here.
import type { TaskTypeInfo } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import type { TaskDefinition } from "./define-task";
import { echoTask } from "./echo";
import { failTask } from "./fail";
import { flakyTask } from "./flaky";
import { sleepTask } from "./sleep";

const definitions: TaskDefinition[] = [sleepTask, echoTask, failTask, flakyTask] as unknown as TaskDefinition[];

export const taskTypes: ReadonlyMap<string, TaskDefinition> = new Map(definitions.map((d) => [d.name, d]));

export function taskTypeInfo(): TaskTypeInfo[] {
  return definitions.map(({ name, description, example }) => ({ name, description, example }));
}

export type PayloadCheck =
  | { ok: true; definition: TaskDefinition; payload: Record<string, unknown> }
  | { ok: false; error: string };

/** Looks up a task type and validates a payload for it, with a message fit for the submitter. */
export function checkTask(type: string, payload: unknown): PayloadCheck {
  const definition = taskTypes.get(type);
  if (!definition) {
    return { ok: false, error: `Unknown task type "${type}". Known types: ${[...taskTypes.keys()].join(", ")}.` };
  }
  const parsed = definition.payload.safeParse(payload ?? {});
  if (!parsed.success) return { ok: false, error: `Invalid payload for "${type}": ${describeZodError(parsed.error)}` };
  return { ok: true, definition, payload: parsed.data };
}

/**
 * Whether a type's tasks are tracked by summary only (see TaskDefinition's `track`): its definition says so, or
 * TASK_TRACK_SUMMARY lists it.
 */
export function summaryTracking(listed: readonly string[]): (type: string) => boolean {
  const summary = new Set([...definitions.filter((d) => d.track === "summary").map((d) => d.name), ...listed]);
  return (type) => summary.has(type);
}
