"use client";
// Live task records: snapshots on every (re)connection merged with `task:update` events, coalesced.
import { useEffect, useMemo, useRef, useState } from "react";
import type { TaskRecord } from "@/lib/contract";
import { createBatcher } from "./batcher";
import { mergeTasks, sortTasks, unconfirmedIds } from "@/lib/live-state";
import { getSocket } from "./socket-client";
import { fetchJson } from "./fetch-json";
import { useStream } from "./use-stream";

type TaskList = { tasks: TaskRecord[] };

export function useTasks(epoch: number): { tasks: TaskRecord[]; loaded: boolean; error?: string } {
  const [byId, setById] = useState<Map<string, TaskRecord>>(() => new Map());
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string>();
  useStream("tasks");
  // What the tab held when a snapshot arrives, to find records the snapshot did not cover.
  const held = useRef(byId);
  useEffect(() => {
    held.current = byId;
  }, [byId]);

  useEffect(() => {
    const socket = getSocket();
    let current = true;
    const batcher = createBatcher<TaskRecord>((records) => setById((m) => mergeTasks(m, records)));
    const onUpdate = (record: TaskRecord) => batcher.push(record);
    socket.on("task:update", onUpdate);
    if (epoch > 0) {
      // Running tasks and dead letters may be older than the newest 100, so ask for them separately.
      Promise.all([
        fetchJson<TaskList>("/api/tasks?limit=100"),
        fetchJson<TaskList>("/api/tasks?status=running&limit=100"),
        fetchJson<TaskList>("/api/dead-letters?limit=100"),
      ]).then(
        (lists) => {
          if (!current) return;
          const snapshot = lists.flatMap((l) => l.tasks);
          setById((m) => mergeTasks(m, snapshot));
          setLoaded(true);
          setError(undefined);
          // A record shown as live or dead that changed while the tab was offline would otherwise stay stale.
          for (const id of unconfirmedIds(held.current, snapshot)) {
            fetchJson<TaskRecord>(`/api/tasks/${encodeURIComponent(id)}`).then((record) => current && batcher.push(record), () => {});
          }
        },
        (err: Error) => current && setError(err.message),
      );
    }
    return () => {
      current = false;
      socket.off("task:update", onUpdate);
      batcher.cancel();
    };
  }, [epoch]);

  const tasks = useMemo(() => sortTasks(byId.values()), [byId]);
  return { tasks, loaded, error };
}
