"use client";
// Running tasks with progress, and recent tasks with their status, both views of the same task records.
import type { TaskRecord } from "@/lib/contract";

const RECENT_SHOWN = 30;

export function RunningTasks({ tasks, loaded }: { tasks: TaskRecord[]; loaded: boolean }) {
  const running = tasks.filter((t) => t.status === "running");
  return (
    <section className="card" aria-labelledby="running-heading">
      <h2 id="running-heading">Running tasks</h2>
      {!loaded ? (
        <p className="muted">Loading…</p>
      ) : running.length === 0 ? (
        <p className="muted">Nothing is running.</p>
      ) : (
        <ul className="tasks">
          {running.map((task) => (
            <li key={task.id} className="task">
              <TaskHeader task={task} />
              <div className="progress-row">
                <progress value={task.progress} max={1} aria-label={`Progress of ${task.type} task ${task.id.slice(0, 8)}`} />
                <span className="mono">{Math.round(task.progress * 100)}%</span>
              </div>
              {task.worker && <p className="muted small">on {task.worker}</p>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function RecentTasks({ tasks, loaded, error }: { tasks: TaskRecord[]; loaded: boolean; error?: string }) {
  const recent = tasks.filter((t) => t.status !== "running").slice(0, RECENT_SHOWN);
  return (
    <section className="card" aria-labelledby="recent-heading">
      <h2 id="recent-heading">Recent tasks</h2>
      {error && <p className="error">Could not load tasks: {error}</p>}
      {!loaded && !error ? (
        <p className="muted">Loading…</p>
      ) : recent.length === 0 ? (
        <p className="muted">No tasks yet. Submit one above, or publish to the queue.</p>
      ) : (
        <ul className="tasks">
          {recent.map((task) => (
            <li key={task.id} className="task">
              <TaskHeader task={task} />
              {task.status === "failed" && task.error && <p className="error small">{task.error}</p>}
              {task.status === "succeeded" && task.result !== undefined && <p className="mono small clip">{clip(JSON.stringify(task.result))}</p>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function TaskHeader({ task }: { task: TaskRecord }) {
  return (
    <div className="task-head">
      <span className="task-type">{task.type}</span>
      <span className={`status status-${task.status}`}>{task.status}</span>
      <span className="mono muted small" title={task.id}>
        {task.id.slice(0, 8)}
      </span>
      <time className="muted small" dateTime={task.createdAt}>
        {new Date(task.createdAt).toLocaleTimeString()}
      </time>
    </div>
  );
}

const clip = (text: string) => (text.length > 120 ? `${text.slice(0, 120)}…` : text);
