"use client";
// The activity series: loaded whole on open and on every (re)connection, then topped up by the web node's
// `stats:tick` push with the newest seconds (the series live in Redis, so every tab and web node agrees).
import { useEffect, useState } from "react";
import { mergeSeries, STATS_WINDOW_MINUTES, type StatsSeries } from "@/lib/insights";
import { fetchJson } from "./fetch-json";
import { getSocket } from "./socket-client";


export interface Activity {
  series?: StatsSeries;
  error?: string;
}

export function useActivity(epoch: number): Activity {
  const [state, setState] = useState<Activity>({});
  useEffect(() => {
    const socket = getSocket();
    let cancelled = false;
    let current: StatsSeries | undefined;
    // Pushes that arrive before the full series are kept and merged once it is here.
    let pending: StatsSeries[] = [];
    const onTick = (recent: StatsSeries) => {
      if (!current) return void pending.push(recent);
      current = mergeSeries(current, recent);
      setState({ series: current });
    };
    socket.on("stats:tick", onTick);
    if (epoch > 0) {
      fetchJson<StatsSeries>(`/api/stats/series?minutes=${STATS_WINDOW_MINUTES}`).then(
        (series) => {
          if (cancelled) return;
          current = pending.reduce(mergeSeries, series);
          pending = [];
          setState({ series: current });
        },
        (err: Error) => !cancelled && setState((s) => ({ series: s.series, error: err.message })),
      );
    }
    return () => {
      cancelled = true;
      socket.off("stats:tick", onTick);
    };
  }, [epoch]);
  return state;
}
