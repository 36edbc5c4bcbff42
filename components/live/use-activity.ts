"use client";
// The activity series: loaded whole on open and on every (re)connection, then topped up by the web node's
// `stats:tick` push with the newest seconds (the series live in Redis, so every tab and web node agrees).
import { mergeSeries, STATS_WINDOW_MINUTES, type StatsSeries } from "@/lib/insights";
import { usePushed } from "./use-pushed";

export interface Activity {
  series?: StatsSeries;
  error?: string;
}

const SERIES_PATH = `/api/stats/series?minutes=${STATS_WINDOW_MINUTES}`;

export function useActivity(epoch: number): Activity {
  // Pushes that arrive before the full series are kept and merged once it is here.
  const { data, error } = usePushed("stats:tick", SERIES_PATH, epoch, { merge: mergeSeries });
  return { series: data, error };
}
