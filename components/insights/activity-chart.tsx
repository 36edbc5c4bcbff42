"use client";
// One live uPlot chart in a captioned figure, with a visually hidden summary of the latest values for screen readers.
import { useEffect, useId, useMemo, useRef, useState } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartLine {
  label: string;
  /** CSS colour variable of the line, e.g. "--ok". */
  colorVar: string;
  values: Array<number | null>;
}

const HEIGHT = 170;

export function ActivityChart({ caption, time, lines, summary }: { caption: string; time: number[]; lines: ChartLine[]; summary: string }) {
  const captionId = useId();
  const holder = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const theme = useColorScheme();
  const labels = lines.map((l) => `${l.label}:${l.colorVar}`).join("|");
  const data = useMemo<uPlot.AlignedData>(() => [time, ...lines.map((l) => l.values)], [time, lines]);
  // The latest data, for a chart (re)created after it arrived.
  const latest = useRef<uPlot.AlignedData>(data);

  // New points arrive at most once a second (the series hook's tick), so this draws at most that often.
  useEffect(() => {
    latest.current = data;
    chart.current?.setData(data);
  }, [data]);

  // Created once per theme (canvas colours come from the CSS variables), resized with its box.
  useEffect(() => {
    const el = holder.current;
    if (!el) return;
    let disposed = false;
    let resize: ResizeObserver | undefined;
    el.dataset.scheme = theme;
    void import("uplot").then(({ default: UPlot }) => {
      if (disposed) return;
      const css = getComputedStyle(el);
      const color = (name: string) => css.getPropertyValue(name).trim() || "#888";
      const axis: uPlot.Axis = { stroke: color("--muted"), grid: { stroke: color("--border"), width: 1 }, ticks: { stroke: color("--border"), width: 1 } };
      const opts: uPlot.Options = {
        width: Math.max(200, el.clientWidth),
        height: HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
        axes: [axis, { ...axis, size: 44 }],
        series: [{}, ...labels.split("|").map((entry) => {
          const [label, colorVar] = entry.split(":");
          return { label, stroke: color(colorVar), width: 1.5, spanGaps: false, points: { show: false } };
        })],
      };
      chart.current = new UPlot(opts, latest.current, el);
      resize = new ResizeObserver(() => chart.current?.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
      resize.observe(el);
    });
    return () => {
      disposed = true;
      resize?.disconnect();
      chart.current?.destroy();
      chart.current = null;
    };
  }, [theme, labels]);

  return (
    <figure className="insights-chart" aria-labelledby={captionId}>
      <figcaption id={captionId}>{caption}</figcaption>
      <ul className="insights-legend" aria-hidden="true">
        {lines.map((l) => (
          <li key={l.label}>
            <span className="insights-swatch" style={{ background: `var(${l.colorVar})` }} />
            {l.label} <span className="mono">{lastValue(l.values) ?? "–"}</span>
          </li>
        ))}
      </ul>
      <div ref={holder} className="insights-canvas" aria-hidden="true" />
      <p className="visually-hidden">{summary}</p>
    </figure>
  );
}

/** The newest complete second's value (the last point is the second still under way). */
export function lastValue(values: Array<number | null>): number | null {
  for (let i = values.length - 2; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

function useColorScheme(): "light" | "dark" {
  const [scheme, setScheme] = useState<"light" | "dark">("light");
  useEffect(() => {
    const query = window.matchMedia("(prefers-color-scheme: dark)");
    const update = () => setScheme(query.matches ? "dark" : "light");
    update();
    query.addEventListener("change", update);
    return () => query.removeEventListener("change", update);
  }, []);
  return scheme;
}
