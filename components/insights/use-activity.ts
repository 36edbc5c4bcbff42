"use client";
// The activity series: loaded whole on open and on every (re)connection, then topped up once a second
// with only the newest seconds (the server keeps them in Redis, so every tab and web node agrees).
import { useEffect, useState } from "react";
import { mergeSeries, STATS_WINDOW_MINUTES, type StatsSeries } from "@/lib/insights";
import { fetchJson } from "@/components/dashboard/fetch-json";

const TICK_MS = 1000;
/** Seconds re-read on every top-up, so counts that landed late in a second already shown are corrected. */
const OVERLAP_SECONDS = 5;

export interface Activity {
  series?: StatsSeries;
  error?: string;
}

export function useActivity(epoch: number): Activity {
  const [state, setState] = useState<Activity>({});
  useEffect(() => {
    if (epoch === 0) return;
    let cancelled = false;
    let current: StatsSeries | undefined;
    let busy = false;
    const publish = (next: Activity) => {
      if (!cancelled) setState(next);
    };
    const load = async () => {
      try {
        current = await fetchJson<StatsSeries>(`/api/stats/series?minutes=${STATS_WINDOW_MINUTES}`);
        publish({ series: current });
      } catch (err) {
        publish({ series: current, error: (err as Error).message });
      }
    };
    const topUp = async () => {
      if (busy) return;
      busy = true;
      try {
        if (!current || current.time.length === 0) return await load();
        const since = current.time.at(-1)! - OVERLAP_SECONDS;
        current = mergeSeries(current, await fetchJson<StatsSeries>(`/api/stats/series?since=${since}`));
        publish({ series: current });
      } catch (err) {
        publish({ series: current, error: (err as Error).message });
      } finally {
        busy = false;
      }
    };
    busy = true;
    void load().finally(() => (busy = false));
    const timer = setInterval(() => void topUp(), TICK_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [epoch]);
  return state;
}
