"use client";
// Runs an operator action (cancel, retry, discard) on one task and keeps its error for the UI to show.
import { useState } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import type { TaskAck, TaskRecord } from "@/lib/contract";
import { postJson } from "./fetch-json";

export type TaskActionName = "cancel" | "retry" | "discard";

export function useTaskAction(task: TaskRecord) {
  const [busy, setBusy] = useState(false);
  // The version the last accepted action was sent against: until a newer record arrives, the action is under way.
  const [sentVersion, setSentVersion] = useState<number>();
  const [error, setError] = useState<string>();
  const allowed = useCanOperate();

  const run = async (action: TaskActionName, body: unknown = {}) => {
    setBusy(true);
    setError(undefined);
    try {
      await postJson<TaskAck>(`/api/tasks/${encodeURIComponent(task.id)}/${action}`, body);
      setSentVersion(task.version);
    } catch (err) {
      setError(`Could not ${action} task ${task.id.slice(0, 8)}: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  /** Retries with the payload edited as JSON text (undefined: unchanged); a draft that is not a JSON object is reported without a request. */
  const retryWithDraft = (draft: string | undefined) => {
    if (draft === undefined) return run("retry");
    let payload: unknown;
    try {
      payload = JSON.parse(draft);
    } catch (err) {
      return setError(`Payload is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
      return setError('Payload must be a JSON object, like {"failures": 0}.');
    }
    return run("retry", { payload });
  };

  const pending = busy || sentVersion === task.version;
  /** `allowed`: the tab's role may act at all (a viewer may not); `disabled`: the buttons are off now. */
  return { run, retryWithDraft, pending, allowed, disabled: pending || !allowed, error, setError };
}
