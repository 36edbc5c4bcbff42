"use client";
// Live queue depth: loaded on every (re)connection, then pushed by the web node when it changes.
import type { QueueStats } from "@/lib/contract";
import { usePushed } from "./use-pushed";

export function useQueueStats(epoch: number): { stats?: QueueStats; error?: string } {
  // The answer replaces what is shown, even a value pushed meanwhile.
  const { data, error } = usePushed("queue:stats", "/api/queue", epoch, { onLoad: "replace" });
  return { stats: data, error };
}
