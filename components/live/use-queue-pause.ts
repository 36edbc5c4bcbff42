"use client";
// Pauses or resumes one queue for an operator; the state shown comes from the pushed queue stats, not from the answer.
import { useState } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import type { QueuePauseAck } from "@/lib/contract";
import { postJson } from "./fetch-json";

export function useQueuePause(queue: string, paused: boolean) {
  const allowed = useCanOperate();
  const [busy, setBusy] = useState(false);
  // The state asked for: the button stays off until the pushed stats show it (within about a second).
  const [asked, setAsked] = useState<boolean>();
  const [error, setError] = useState<string>();
  // Shown: forget the request (adjusting state while rendering, as React suggests for state derived from props).
  if (asked !== undefined && asked === paused) setAsked(undefined);

  const toggle = async () => {
    const action = paused ? "resume" : "pause";
    setBusy(true);
    setError(undefined);
    try {
      const ack = await postJson<QueuePauseAck>(`/api/queues/${encodeURIComponent(queue)}/${action}`);
      setAsked(ack.paused);
    } catch (err) {
      setError(`Could not ${action} queue ${queue}: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const pending = busy || (asked !== undefined && asked !== paused);
  return { toggle, allowed, pending, error };
}
