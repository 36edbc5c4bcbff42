// The worker's minute summary of finished tasks: counts by status and type, durations, and silence when idle.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import type { TaskRecord } from "../../lib/contract";
import { newTaskRecord } from "../../lib/task-lifecycle";
import { FinishedSummary } from "../../server/metrics/finished-summary";

const finished = (id: string, type: string, status: TaskRecord["status"], ms: number): TaskRecord => ({
  ...newTaskRecord({ type: "submit", id, taskType: type, payload: {}, priority: 0, at: "2026-01-01T00:00:00.000Z" }),
  status,
  startedAt: "2026-01-01T00:00:01.000Z",
  finishedAt: new Date(Date.parse("2026-01-01T00:00:01.000Z") + ms).toISOString(),
});

test("one line sums up what finished since the last one; nothing finished, no line", () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const summary = new FinishedSummary(log);
  summary.flush();
  assert.equal(lines.length, 0);
  summary.count(finished("a", "echo", "succeeded", 2));
  summary.count(finished("b", "echo", "succeeded", 4));
  summary.count(finished("c", "sleep", "failed", 1000));
  summary.flush();
  assert.equal(lines.length, 1);
  assert.equal(lines[0].msg, "tasks finished");
  assert.equal(lines[0].finished, 3);
  assert.deepEqual(lines[0].byStatus, { succeeded: 2, failed: 1 });
  assert.deepEqual(lines[0].byType, { echo: 2, sleep: 1 });
  assert.deepEqual(lines[0].ms, { p50: 4, p99: 1000, max: 1000 });
  summary.flush();
  assert.equal(lines.length, 1, "counts start again after each line");
});
