"use client";
// A task's handler log lines, live, grouped by attempt, newest at the bottom.
import { useMemo } from "react";
import type { TaskLogLine } from "@/lib/task-logs";
import { useTaskLogs } from "@/components/live/use-task-logs";

interface Group {
  key: string;
  title: string;
  lines: TaskLogLine[];
}

function groupByAttempt(lines: TaskLogLine[]): Group[] {
  const groups: Group[] = [];
  for (const line of lines) {
    const key = `${line.run ?? 1}:${line.attempt}`;
    let group = groups.at(-1);
    if (group?.key !== key) {
      group = { key, title: line.run ? `Run ${line.run}, attempt ${line.attempt}` : `Attempt ${line.attempt}`, lines: [] };
      groups.push(group);
    }
    group.lines.push(line);
  }
  return groups;
}

/** "14:03:07.250": a line's time of day, to the millisecond (the full instant is in the title). */
const clock = (at: string) => {
  const d = new Date(at);
  return `${d.toLocaleTimeString(undefined, { hour12: false })}.${String(d.getMilliseconds()).padStart(3, "0")}`;
};

export function TaskLogs({ id, epoch }: { id: string; epoch: number }) {
  const { lines, error } = useTaskLogs(id, epoch);
  const groups = useMemo(() => groupByAttempt(lines), [lines]);
  return (
    <section className="card" aria-labelledby="task-logs-heading">
      <h2 id="task-logs-heading">Logs</h2>
      {error && (
        <p role="alert" className="error small">
          Could not load the log lines: {error}
        </p>
      )}
      {groups.length === 0 ? (
        <p className="muted">No log lines yet. Handlers write them with ctx.log; the newest 200 of each attempt are kept.</p>
      ) : (
        // No scrolling box of its own (a scrollable region must be focusable): the page grows, newest at the bottom.
        <div className="log-box">
          {groups.map((group) => (
            <div key={group.key} className="log-group">
              <h3 className="log-attempt">{group.title}</h3>
              {group.lines[0].n > 1 && <p className="muted small">{group.lines[0].n - 1} earlier lines of this attempt were not kept.</p>}
              <ol className="log-lines" aria-label={`${group.title} log lines`}>
                {group.lines.map((line) => (
                  <li key={line.n} className="log-line">
                    <time className="log-time" dateTime={line.at} title={line.at}>
                      {clock(line.at)}
                    </time>{" "}
                    <span className="log-message">{line.message}</span>
                    {line.fields && <span className="log-fields"> {JSON.stringify(line.fields)}</span>}
                  </li>
                ))}
              </ol>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
