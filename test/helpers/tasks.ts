// Task helpers for integration tests: submit through the API and wait for a record to reach a status.
import assert from "node:assert/strict";
import type { TaskRecord, TaskStatus } from "../../lib/contract";
import { api, eventually, postJson, type Stack } from "./stack";

export async function taskOf(stack: Stack, id: string): Promise<TaskRecord | undefined> {
  const { status, body } = await api(stack.nodes[0], `/api/tasks/${encodeURIComponent(id)}`);
  return status === 200 ? (body as TaskRecord) : undefined;
}

export function waitForStatus(stack: Stack, id: string, statuses: TaskStatus[], timeoutMs = 15_000): Promise<TaskRecord> {
  return eventually(
    async () => {
      const task = await taskOf(stack, id);
      return task && statuses.includes(task.status) ? task : undefined;
    },
    `task ${id} to be ${statuses.join(" or ")}`,
    timeoutMs,
  );
}

/** Submits through POST /api/tasks and returns the id; anything but 202 fails the test. */
export async function submit(stack: Stack, body: object): Promise<string> {
  const res = await postJson(stack.nodes[0], "/api/tasks", body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id as string;
}
