"use client";
// Running (and stalled) tasks with progress, and recent tasks with their status, both views of the same task records.
import Link from "next/link";
import { useEffect, useState } from "react";
import type { TaskRecord } from "@/lib/contract";
import { canCancel, isCancelling } from "@/lib/task-lifecycle";
import { useTaskAction } from "@/components/live/use-task-action";

const RECENT_SHOWN = 30;
/** Shown with the running ones: a stalled task was mid-run when its worker went silent, and runs again. */
const inProgress = (t: TaskRecord) => t.status === "running" || t.status === "stalled";

export function RunningTasks({ tasks, loaded }: { tasks: TaskRecord[]; loaded: boolean }) {
  const running = tasks.filter(inProgress);
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
              {task.status === "stalled" && <p className="warn small">Its worker stopped responding; RabbitMQ will hand it to another worker.</p>}
              <p className="muted small">
                {attemptText(task)}
                {task.worker && ` on ${task.worker}`}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function RecentTasks({ tasks, loaded, error }: { tasks: TaskRecord[]; loaded: boolean; error?: string }) {
  const recent = tasks.filter((t) => !inProgress(t)).slice(0, RECENT_SHOWN);
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
            <RecentTask key={task.id} task={task} />
          ))}
        </ul>
      )}
    </section>
  );
}

function RecentTask({ task }: { task: TaskRecord }) {
  const retry = useTaskAction(task);
  // Dead letters are retried from their own section, with a payload editor.
  const retryable = task.status === "failed" || task.status === "cancelled";
  return (
    <li className="task">
      <TaskHeader task={task} />
      {task.status === "retrying" && <RetryingDetails task={task} />}
      {task.status === "scheduled" && task.runAt && (
        <p className="small">
          {"Scheduled: queued "}
          <Countdown at={task.runAt} />
        </p>
      )}
      {(task.status === "failed" || task.status === "dead") && task.error && <p className="error small">{task.error}</p>}
      {task.status === "cancelled" && task.error && <p className="muted small">{task.error}</p>}
      {task.status === "dead" && task.discardedAt && <p className="muted small">Discarded from the dead letters.</p>}
      {task.status === "succeeded" && task.result !== undefined && <p className="mono small clip">{task.resultBytes ? `(a result of ${task.resultBytes} bytes)` : clip(JSON.stringify(task.result))}</p>}
      {retryable && (
        <div className="actions">
          <button type="button" className="small-button secondary" onClick={() => retry.run("retry")} disabled={retry.disabled}>
            Retry task {task.id.slice(0, 8)}
          </button>
        </div>
      )}
      {retry.error && (
        <p role="alert" className="error small">
          {retry.error}
        </p>
      )}
    </li>
  );
}

/** Type, status badge, short id and creation time; a task still under way also gets its Cancel button. */
function TaskHeader({ task }: { task: TaskRecord }) {
  const cancel = useTaskAction(task);
  const cancellable = canCancel(task);
  return (
    <>
      <div className="task-head">
        <span className="task-type">{task.type}</span>
        <span className={`status status-${task.status}`}>{task.status}</span>
        {isCancelling(task) && <span className="status status-cancelling">cancelling…</span>}
        <Link href={`/tasks/${encodeURIComponent(task.id)}`} className="mono small task-link" title={task.id}>
          {task.id.slice(0, 8)}
        </Link>
        {task.priority > 0 && <span className="muted small">priority {task.priority}</span>}
        <time className="muted small" dateTime={task.createdAt}>
          {new Date(task.createdAt).toLocaleTimeString()}
        </time>
        {cancellable && (
          <button type="button" className="small-button secondary push-right" onClick={() => cancel.run("cancel")} disabled={cancel.disabled}>
            Cancel task {task.id.slice(0, 8)}
          </button>
        )}
      </div>
      {cancel.error && (
        <p role="alert" className="error small">
          {cancel.error}
        </p>
      )}
    </>
  );
}

function RetryingDetails({ task }: { task: TaskRecord }) {
  return (
    <p className="small">
      {attemptText(task)} failed
      {task.error && <span className="error">: {task.error}</span>}
      {task.nextAttemptAt && (
        <>
          {" · next attempt "}
          <Countdown at={task.nextAttemptAt} />
        </>
      )}
    </p>
  );
}

/** "in 1.2 s" until the next attempt is due, then "due now"; ticks only while shown and not yet due. */
/** "in 2.5 s" until `at`, then "due now"; the exact time in the title. */
function Countdown({ at }: { at: string }) {
  const due = Date.parse(at);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => {
      const t = Date.now();
      setNow(t);
      if (t >= due) clearInterval(timer);
    }, 250);
    return () => clearInterval(timer);
  }, [due]);
  const left = due - now;
  return (
    <time dateTime={at} title={new Date(due).toLocaleTimeString()}>
      {left > 0 ? `in ${(left / 1000).toFixed(1)} s` : "due now"}
    </time>
  );
}

/** "attempt 2 of 4" (just "attempt 2" when the type sets no limit). */
function attemptText(task: TaskRecord): string {
  return `attempt ${Math.max(task.attempts, 1)}${task.maxAttempts ? ` of ${task.maxAttempts}` : ""}`;
}

const clip = (text: string) => (text.length > 120 ? `${text.slice(0, 120)}…` : text);
