"use client";
// Reads a JSON endpoint the web node computes once a second for all its tabs (workers, web nodes) on every tick.
// A socket event would replace this (see the report); the answer is served from the node's memory.
import { useEffect, useState } from "react";
import { fetchJson } from "@/components/dashboard/fetch-json";

export function useEverySecond<T>(path: string, epoch: number): { data?: T; error?: string } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  useEffect(() => {
    if (epoch === 0) return;
    let cancelled = false;
    let busy = false;
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        const data = await fetchJson<T>(path);
        if (!cancelled) setState({ data });
      } catch (err) {
        if (!cancelled) setState((s) => ({ data: s.data, error: (err as Error).message }));
      } finally {
        busy = false;
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), 1000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [path, epoch]);
  return state;
}
