"use client";
// Bulk retry and discard of dead letters for an operator, and the live progress of any bulk action (`deadLetters:progress`,
// from whichever tab or node started it).
import { useEffect, useState } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import type { DeadLetterBulk, DeadLetterBulkAck, DeadLetterBulkAction, DeadLetterBulkProgress } from "@/lib/contract";
import { postJson } from "./fetch-json";
import { getSocket } from "./socket-client";

export function useDeadLetterBulk() {
  const allowed = useCanOperate();
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<DeadLetterBulkProgress>();
  const [outcome, setOutcome] = useState<string>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    const socket = getSocket();
    const onProgress = (p: DeadLetterBulkProgress) => setProgress(p);
    // A tab that reconnects may have missed the end: forget the progress rather than keep the buttons off for ever.
    const onConnect = () => setProgress(undefined);
    socket.on("deadLetters:progress", onProgress);
    socket.on("connect", onConnect);
    return () => {
      socket.off("deadLetters:progress", onProgress);
      socket.off("connect", onConnect);
    };
  }, []);

  /** Resolves true when the server took the action. */
  const run = async (action: DeadLetterBulkAction, body: DeadLetterBulk): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    setOutcome(undefined);
    try {
      const ack = await postJson<DeadLetterBulkAck>(`/api/dead-letters/${action}`, body);
      const skipped = ack.skipped.length > 0 ? `; ${ack.skipped.length} skipped (${ack.skipped.slice(0, 3).map((s) => `${s.id.slice(0, 8)}: ${s.reason}`).join("; ")}${ack.skipped.length > 3 ? "; …" : ""})` : "";
      setOutcome(`${action === "retry" ? "Retried" : "Discarded"} ${ack.count} ${ack.count === 1 ? "dead letter" : "dead letters"}${skipped}.`);
      return true;
    } catch (err) {
      setError(`Could not ${action} dead letters: ${(err as Error).message}`);
      return false;
    } finally {
      setBusy(false);
    }
  };

  /** A bulk action running anywhere (this tab's or another's), from its live progress. */
  const running = progress !== undefined && !progress.finished ? progress : undefined;
  return { run, allowed, busy, running, disabled: busy || running !== undefined || !allowed, outcome, error };
}
