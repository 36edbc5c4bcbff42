"use client";
// Live depth of every queue (TASK_QUEUE first): loaded on every (re)connection, then pushed by the web node when it changes.
import type { QueueList } from "@/lib/contract";
import { usePushed } from "./use-pushed";

export function useQueueStats(epoch: number): { list?: QueueList; error?: string } {
  // The answer replaces what is shown, even a value pushed meanwhile.
  const { data, error } = usePushed("queues:stats", "/api/queues", epoch, { onLoad: "replace" });
  return { list: data, error };
}
