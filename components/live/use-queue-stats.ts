"use client";
// Live queue depth: loaded on every (re)connection, then pushed by the web node when it changes.
import { useEffect, useState } from "react";
import type { QueueStats } from "@/lib/contract";
import { getSocket } from "./socket-client";
import { fetchJson } from "./fetch-json";

export function useQueueStats(epoch: number): { stats?: QueueStats; error?: string } {
  const [state, setState] = useState<{ stats?: QueueStats; error?: string }>({});
  useEffect(() => {
    const socket = getSocket();
    const onStats = (stats: QueueStats) => setState({ stats });
    socket.on("queue:stats", onStats);
    if (epoch > 0) {
      fetchJson<QueueStats>("/api/queue").then(
        (stats) => setState({ stats }),
        (err: Error) => setState((s) => ({ ...s, error: err.message })),
      );
    }
    return () => {
      socket.off("queue:stats", onStats);
    };
  }, [epoch]);
  return state;
}
