"use client";
// Activity over the last 15 minutes: tasks finished, queue depth and broadcasts, one chart each.
import { useMemo } from "react";
import type { StatsSeries } from "@/lib/insights";
import { ActivityChart, lastValue, type ChartLine } from "./activity-chart";
import type { Activity } from "@/components/live/use-activity";

const total = (values: Array<number | null>) => values.reduce<number>((s, v) => s + (v ?? 0), 0);
const peak = (values: Array<number | null>) => values.reduce<number>((m, v) => Math.max(m, v ?? 0), 0);
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function ActivitySection({ activity }: { activity: Activity }) {
  const { series, error } = activity;
  return (
    <section className="card insights-activity" aria-labelledby="activity-heading">
      <h2 id="activity-heading">Activity</h2>
      <p className="muted small">Last 15 minutes, one point per second, the same on every web node.</p>
      {series ? <Charts series={series} /> : error ? <p className="error">Could not load the activity: {error}</p> : <p className="muted">Loading activity…</p>}
      {series && error && <p className="error small">Not updating: {error}</p>}
    </section>
  );
}

function Charts({ series }: { series: StatsSeries }) {
  const charts = useMemo(() => {
    const tasks: ChartLine[] = [
      { label: "Succeeded", colorVar: "--ok", values: series.succeeded },
      { label: "Failed", colorVar: "--bad", values: series.failed },
      { label: "Dead", colorVar: "--warn", values: series.dead },
    ];
    const depth: ChartLine[] = [
      { label: "Ready", colorVar: "--accent", values: series.ready },
      { label: "Unacked", colorVar: "--warn", values: series.unacked },
    ];
    const broadcasts: ChartLine[] = [{ label: "Broadcasts", colorVar: "--accent", values: series.broadcasts }];
    const [ok, failed, dead, sent] = [series.succeeded, series.failed, series.dead, series.broadcasts].map(total);
    const ready = lastValue(series.ready);
    const unacked = lastValue(series.unacked);
    return {
      tasks,
      depth,
      broadcasts,
      tasksSummary:
        `Latest second: ${lastValue(series.succeeded) ?? 0} succeeded, ${lastValue(series.failed) ?? 0} failed, ${lastValue(series.dead) ?? 0} dead. ` +
        `Last 15 minutes: ${ok} succeeded, ${failed} failed, ${dead} dead.`,
      depthSummary:
        ready === null && unacked === null
          ? "No queue depth sampled in the last 15 minutes."
          : `Latest: ${ready ?? 0} ready, ${unacked ?? 0} unacked. Highest in the last 15 minutes: ${peak(series.ready)} ready, ${peak(series.unacked)} unacked.`,
      broadcastsSummary: `Latest second: ${plural(lastValue(series.broadcasts) ?? 0, "broadcast", "broadcasts")}. Last 15 minutes: ${plural(sent, "broadcast", "broadcasts")}.`,
    };
  }, [series]);
  return (
    <div className="insights-charts">
      <ActivityChart caption="Tasks finished per second" time={series.time} lines={charts.tasks} summary={charts.tasksSummary} />
      <ActivityChart caption="Queue depth" time={series.time} lines={charts.depth} summary={charts.depthSummary} />
      <ActivityChart caption="Broadcasts per second" time={series.time} lines={charts.broadcasts} summary={charts.broadcastsSummary} />
    </div>
  );
}
