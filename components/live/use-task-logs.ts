"use client";
// One task's handler log lines: followed live with `task:logs:follow` and loaded on every (re)connection.
import { useEffect, useState } from "react";
import { MAX_LOG_LINES_PER_ATTEMPT, type TaskLogBatch, type TaskLogLine, type TaskLogs } from "@/lib/task-logs";
import { createBatcher } from "./batcher";
import { fetchJson } from "./fetch-json";
import { getSocket } from "./socket-client";

export interface TaskLogsState {
  lines: TaskLogLine[];
  error?: string;
}

const keyOf = (l: TaskLogLine) => `${l.run ?? 1}:${l.attempt}:${l.n}`;
const order = (a: TaskLogLine, b: TaskLogLine) => (a.run ?? 1) - (b.run ?? 1) || a.attempt - b.attempt || a.n - b.n;

/** Lines merged (a line loaded and also pushed counts once), oldest first, the newest MAX_LOG_LINES_PER_ATTEMPT per attempt. */
function merge(current: TaskLogLine[], more: TaskLogLine[]): TaskLogLine[] {
  const byKey = new Map(current.map((l) => [keyOf(l), l]));
  for (const line of more) byKey.set(keyOf(line), line);
  const all = [...byKey.values()].sort(order);
  const perAttempt = new Map<string, number>();
  for (const l of all) perAttempt.set(`${l.run ?? 1}:${l.attempt}`, (perAttempt.get(`${l.run ?? 1}:${l.attempt}`) ?? 0) + 1);
  const seen = new Map<string, number>();
  return all.filter((l) => {
    const group = `${l.run ?? 1}:${l.attempt}`;
    const index = (seen.get(group) ?? 0) + 1;
    seen.set(group, index);
    return index > perAttempt.get(group)! - MAX_LOG_LINES_PER_ATTEMPT;
  });
}

export function useTaskLogs(id: string, epoch: number): TaskLogsState {
  const [state, setState] = useState<TaskLogsState>({ lines: [] });

  useEffect(() => {
    if (epoch === 0) return;
    const socket = getSocket();
    let current = true;
    const batcher = createBatcher<TaskLogLine[]>((batches) => setState((s) => ({ ...s, lines: merge(s.lines, batches.flat()) })));
    const onLines = (batch: TaskLogBatch) => {
      if (batch.taskId === id) batcher.push(batch.lines);
    };
    socket.on("task:logs", onLines);
    // Follow first, then load: a line stored in between arrives both ways and counts once.
    socket.emit("task:logs:follow", id, (reply) => {
      if (!current) return;
      if ("error" in reply) return setState((s) => ({ ...s, error: reply.error }));
      fetchJson<TaskLogs>(`/api/tasks/${encodeURIComponent(id)}/logs`).then(
        (body) => current && setState((s) => ({ lines: merge(s.lines, body.logs) })),
        // A task that is not found is said by the task's own section.
        (err: Error) => current && !/No task with id/.test(err.message) && setState((s) => ({ ...s, error: err.message })),
      );
    });
    return () => {
      current = false;
      socket.off("task:logs", onLines);
      socket.emit("task:logs:follow", null, () => undefined);
      batcher.cancel();
    };
  }, [id, epoch]);

  return state;
}
