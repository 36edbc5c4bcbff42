"use client";
// Activity over the last 15 minutes: tasks finished, queue depth (of the queue chosen) and broadcasts, one chart each.
import { useId, useMemo, useState, type ReactNode } from "react";
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

/** The depth chart's choice: TASK_QUEUE (null) or an outside worker's queue, by name. */
function useChosenQueue(series: StatsSeries): { chosen: StatsSeries["queues"][number] | undefined; select: ReactNode } {
  const [name, setName] = useState<string | null>(null);
  const id = useId();
  // A queue no longer sampled in the window falls back to TASK_QUEUE.
  const chosen = series.queues.find((q) => q.queue === name);
  const select =
    series.queues.length === 0 ? null : (
      <p className="small">
        <label htmlFor={id}>Queue depth of </label>
        <select id={id} value={chosen?.queue ?? ""} onChange={(e) => setName(e.target.value === "" ? null : e.target.value)}>
          <option value="">the task queue (TASK_QUEUE)</option>
          {series.queues.map((q) => (
            <option key={q.queue} value={q.queue}>
              {q.queue}
            </option>
          ))}
        </select>
      </p>
    );
  return { chosen, select };
}

function Charts({ series }: { series: StatsSeries }) {
  const { chosen, select } = useChosenQueue(series);
  const charts = useMemo(() => {
    const depthOf = chosen ?? series;
    const tasks: ChartLine[] = [
      { label: "Succeeded", colorVar: "--ok", values: series.succeeded },
      { label: "Failed", colorVar: "--bad", values: series.failed },
      { label: "Dead", colorVar: "--warn", values: series.dead },
    ];
    const depth: ChartLine[] = [
      { label: "Ready", colorVar: "--accent", values: depthOf.ready },
      { label: "Unacked", colorVar: "--warn", values: depthOf.unacked },
    ];
    const broadcasts: ChartLine[] = [{ label: "Broadcasts", colorVar: "--accent", values: series.broadcasts }];
    const [ok, failed, dead, sent] = [series.succeeded, series.failed, series.dead, series.broadcasts].map(total);
    const ready = lastValue(depthOf.ready);
    const unacked = lastValue(depthOf.unacked);
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
          : `Latest: ${ready ?? 0} ready, ${unacked ?? 0} unacked. Highest in the last 15 minutes: ${peak(depthOf.ready)} ready, ${peak(depthOf.unacked)} unacked.`,
      broadcastsSummary: `Latest second: ${plural(lastValue(series.broadcasts) ?? 0, "broadcast", "broadcasts")}. Last 15 minutes: ${plural(sent, "broadcast", "broadcasts")}.`,
    };
  }, [series, chosen]);
  return (
    <div className="insights-charts">
      <ActivityChart caption="Tasks finished per second" time={series.time} lines={charts.tasks} summary={charts.tasksSummary} />
      <div>
        {select}
        <ActivityChart caption={chosen ? `Queue depth: ${chosen.queue}` : "Queue depth"} time={series.time} lines={charts.depth} summary={charts.depthSummary} />
      </div>
      <ActivityChart caption="Broadcasts per second" time={series.time} lines={charts.broadcasts} summary={charts.broadcastsSummary} />
    </div>
  );
}
