"use client";
// Live task records: a snapshot on every (re)connection merged with `task:update` events, coalesced.
import { useEffect, useMemo, useState } from "react";
import type { TaskRecord } from "@/lib/contract";
import { createBatcher } from "@/lib/batcher";
import { mergeTasks, sortTasks } from "@/lib/live-state";
import { getSocket } from "@/lib/socket-client";
import { fetchJson } from "./fetch-json";

export function useTasks(epoch: number): { tasks: TaskRecord[]; loaded: boolean; error?: string } {
  const [byId, setById] = useState<Map<string, TaskRecord>>(() => new Map());
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    const socket = getSocket();
    const batcher = createBatcher<TaskRecord>((records) => setById((m) => mergeTasks(m, records)));
    const onUpdate = (record: TaskRecord) => batcher.push(record);
    socket.on("task:update", onUpdate);
    if (epoch > 0) {
      // Running tasks may be older than the newest 100, so ask for them separately.
      Promise.all([fetchJson<{ tasks: TaskRecord[] }>("/api/tasks?limit=100"), fetchJson<{ tasks: TaskRecord[] }>("/api/tasks?status=running&limit=100")]).then(
        ([recent, running]) => {
          setById((m) => mergeTasks(m, [...recent.tasks, ...running.tasks]));
          setLoaded(true);
          setError(undefined);
        },
        (err: Error) => setError(err.message),
      );
    }
    return () => {
      socket.off("task:update", onUpdate);
      batcher.cancel();
    };
  }, [epoch]);

  const tasks = useMemo(() => sortTasks(byId.values()), [byId]);
  return { tasks, loaded, error };
}
