"use client";
// One task record, loaded on every (re)connection and followed live through `task:update` (the highest version wins).
import { useEffect, useState } from "react";
import type { TaskRecord } from "@/lib/contract";
import { createBatcher } from "./batcher";
import { getSocket } from "./socket-client";
import { useStream } from "./use-stream";

export type TaskState =
  | { kind: "loading"; record?: undefined }
  | { kind: "found"; record: TaskRecord }
  | { kind: "not-found"; record?: undefined }
  | { kind: "error"; error: string; record?: TaskRecord };

/** The newer copy, keeping the whole payload and result of the other one where the newer is a live copy that left them out. */
const newer = (a: TaskRecord | undefined, b: TaskRecord): TaskRecord => {
  if (!a) return b;
  const [older, latest] = a.version >= b.version ? [b, a] : [a, b];
  let merged = latest;
  if (latest.payloadBytes !== undefined && older.payloadBytes === undefined && older.retriedAt === latest.retriedAt) merged = { ...merged, payload: older.payload, payloadBytes: undefined };
  if (latest.resultBytes !== undefined && older.resultBytes === undefined && older.result !== undefined) merged = { ...merged, result: older.result, resultBytes: undefined };
  return merged;
};

export function useTask(id: string, epoch: number): TaskState {
  const [state, setState] = useState<TaskState>({ kind: "loading" });
  useStream("tasks");

  useEffect(() => {
    if (epoch === 0) return;
    const socket = getSocket();
    let current = true;
    let reloading = false;
    const batcher = createBatcher<TaskRecord>((records) =>
      setState((s) => {
        const record = records.reduce<TaskRecord | undefined>(newer, s.record)!;
        // A live copy left out a value this page has not got whole yet (a large result just arrived): load it.
        if ((record.payloadBytes !== undefined || record.resultBytes !== undefined) && !reloading) {
          reloading = true;
          load(id).then(
            (full) => current && full && setState((t) => ({ kind: "found", record: newer(t.record, full) })),
            () => undefined,
          ).finally(() => (reloading = false));
        }
        return { kind: "found", record };
      }),
    );
    const onUpdate = (record: TaskRecord) => {
      if (record.id === id) batcher.push(record);
    };
    socket.on("task:update", onUpdate);
    load(id).then(
      (result) => {
        if (!current) return;
        if (result === undefined) setState((s) => (s.record ? s : { kind: "not-found" }));
        else setState((s) => ({ kind: "found", record: newer(s.record, result) }));
      },
      (err: Error) => current && setState((s) => ({ kind: "error", error: err.message, record: s.record })),
    );
    return () => {
      current = false;
      socket.off("task:update", onUpdate);
      batcher.cancel();
    };
  }, [id, epoch]);

  return state;
}

/** The record, or undefined on 404; other failures throw the API's message. */
async function load(id: string): Promise<TaskRecord | undefined> {
  let res: Response;
  try {
    res = await fetch(`/api/tasks/${encodeURIComponent(id)}`, { cache: "no-store" });
  } catch {
    throw new Error("The server did not answer; check the connection and try again.");
  }
  if (res.status === 404) return undefined;
  const body = (await res.json().catch(() => ({}))) as TaskRecord & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `The server answered ${res.status}.`);
  return body;
}
