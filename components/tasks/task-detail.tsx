"use client";
// One task at a stable address: payload, outcome, timing, every attempt and the operator's actions, all live.
import Link from "next/link";
import { useMemo, useState } from "react";
import { ViewerNote } from "@/components/auth/viewer-note";
import type { TaskRecord } from "@/lib/contract";
import { canCancel, canDiscard, canRetry, isCancelling } from "@/lib/task-lifecycle";
import { useConnection } from "@/components/live/use-connection";
import { useTaskAction } from "@/components/live/use-task-action";
import { PageHeader } from "@/components/layout/page-header";
import { formatDuration, Time } from "@/components/ui/time";
import { useScrollTabStop } from "@/components/ui/use-scroll-tab-stop";
import { EditPayloadButton, PayloadEditor, usePayloadDraft } from "./payload-editor";
import { useTask } from "@/components/live/use-task";
import { TaskLogs } from "./task-logs";

/** Longer JSON is shown cut to this many characters until "Show all" (a browser slows down on megabytes of text). */
const SHOWN_CHARS = 200 * 1024;

export function TaskDetail({ id }: { id: string }) {
  const { connected, epoch } = useConnection();
  const state = useTask(id, epoch);
  return (
    <>
      <PageHeader title="Taskcast" current="tasks" connected={connected} epoch={epoch} />
      <main className="tasks-main">
        {state.kind === "loading" && <p className="muted">Loading task {id}…</p>}
        {state.kind === "not-found" && (
          <section className="card" aria-labelledby="task-heading">
            <h2 id="task-heading">Task not found</h2>
            <p role="alert">No task with id “{id}”. It may never have existed, or it left the history (the newest finished tasks are kept).</p>
            <p>
              <Link href="/tasks">Back to all tasks</Link>
            </p>
          </section>
        )}
        {state.kind === "error" && (
          <p role="alert" className="error">
            Could not load task {id}: {state.error}
          </p>
        )}
        {state.record && <TaskView task={state.record} />}
        {state.record && <TaskLogs id={id} epoch={epoch} />}
      </main>
    </>
  );
}

function TaskView({ task }: { task: TaskRecord }) {
  const shortId = task.id.slice(0, 8);
  return (
    <>
      <section className="card" aria-labelledby="task-heading">
        <h2 id="task-heading">
          {task.type} task {shortId}
        </h2>
        <dl className="task-facts" aria-label="Summary">
          <Fact name="Id">
            <span className="mono">{task.id}</span>
          </Fact>
          <Fact name="Type">{task.type}</Fact>
          {task.schedule && (
            <Fact name="Schedule">
              <Link href={`/schedules#schedule-${encodeURIComponent(task.schedule)}`}>{task.schedule}</Link>
              {task.scheduleTick && (
                <span className="muted small-inline">
                  {" "}
                  (tick of <Time at={task.scheduleTick} />)
                </span>
              )}
            </Fact>
          )}
          <Fact name="Status">
            <span className={`status status-${task.status}`}>{task.status}</span>
            {isCancelling(task) && <span className="status status-cancelling">cancelling…</span>}
            {task.discardedAt && <span className="muted small-inline"> discarded from the dead letters</span>}
          </Fact>
          <Fact name="Progress">
            <span className="progress-row">
              <progress value={task.progress} max={1} aria-label={`Progress of task ${shortId}`} />
              <span className="mono">{Math.round(task.progress * 100)}%</span>
            </span>
          </Fact>
          <Fact name="Priority">{task.priority}</Fact>
          <Fact name="Attempts">
            {task.attempts}
            {task.maxAttempts ? ` of ${task.maxAttempts}` : ""}
          </Fact>
          <Fact name="Created">
            <Time at={task.createdAt} />
          </Fact>
          <Fact name="Started">
            <Time at={task.startedAt} />
          </Fact>
          <Fact name="Finished">
            <Time at={task.finishedAt} />
            {formatDuration(task.startedAt, task.finishedAt) && <span className="muted small-inline"> (ran {formatDuration(task.startedAt, task.finishedAt)})</span>}
          </Fact>
          {task.runAt && (
            <Fact name={task.status === "scheduled" ? "Runs at" : "Was scheduled for"}>
              <Time at={task.runAt} />
            </Fact>
          )}
          {task.status === "retrying" && task.nextAttemptAt && (
            <Fact name="Next attempt">
              <Time at={task.nextAttemptAt} />
            </Fact>
          )}
          <Fact name="Worker">{task.worker ? <span className="mono">{task.worker}</span> : <span className="muted">—</span>}</Fact>
        </dl>
        <TaskActions task={task} />
      </section>
      {task.error !== undefined && (
        <section className="card" aria-labelledby="task-error-heading">
          <h2 id="task-error-heading">Error</h2>
          <p className="error reason">{task.error}</p>
        </section>
      )}
      {task.result !== undefined && <JsonSection title="Result" value={task.result} />}
      <JsonSection title="Payload" value={task.payload} />
      <Attempts task={task} />
    </>
  );
}

function Fact({ name, children }: { name: string; children: React.ReactNode }) {
  return (
    <div>
      <dt>{name}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function JsonSection({ title, value }: { title: string; value: unknown }) {
  const text = useMemo(() => JSON.stringify(value, null, 2) ?? "", [value]);
  const [all, setAll] = useState(false);
  const [scrollRef, scrollTabIndex] = useScrollTabStop<HTMLPreElement>();
  const cut = !all && text.length > SHOWN_CHARS;
  const headingId = `task-${title.toLowerCase()}-heading`;
  return (
    <section className="card" aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      <pre className="json-block" ref={scrollRef} tabIndex={scrollTabIndex}>
        <code>{cut ? `${text.slice(0, SHOWN_CHARS)}\n…` : text}</code>
      </pre>
      {cut && (
        <p className="small">
          Showing the first {kb(SHOWN_CHARS)} of {kb(text.length)}.{" "}
          <button type="button" className="small-button secondary" onClick={() => setAll(true)} aria-label={`Show all of the ${title.toLowerCase()}`}>
            Show all
          </button>
        </p>
      )}
    </section>
  );
}

const kb = (chars: number) => (chars >= 1024 * 1024 ? `${(chars / 1024 / 1024).toFixed(1)} MB` : `${Math.round(chars / 1024)} KB`);

function Attempts({ task }: { task: TaskRecord }) {
  const [scrollRef, scrollTabIndex] = useScrollTabStop<HTMLDivElement>();
  return (
    <section className="card" aria-labelledby="task-attempts-heading">
      <h2 id="task-attempts-heading">Attempts</h2>
      {task.attemptLog.length === 0 ? (
        <p className="muted">No attempt yet.</p>
      ) : (
        <div className="table-scroll" ref={scrollRef}>
          <table className="task-table" aria-labelledby="task-attempts-heading" tabIndex={scrollTabIndex}>
            <thead>
              <tr>
                <th scope="col">Attempt</th>
                <th scope="col">Worker</th>
                <th scope="col">Started</th>
                <th scope="col">Finished</th>
                <th scope="col">Duration</th>
                <th scope="col">Outcome</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {task.attemptLog.map((a, i) => (
                <tr key={`${a.attempt}-${a.startedAt}-${i}`}>
                  <td className="num">{a.attempt}</td>
                  <td className="mono">{a.worker}</td>
                  <td className="nowrap">
                    <Time at={a.startedAt} />
                  </td>
                  <td className="nowrap">
                    <Time at={a.finishedAt} />
                  </td>
                  <td className="nowrap">{formatDuration(a.startedAt, a.finishedAt) ?? "—"}</td>
                  <td>
                    <span className={`outcome outcome-${a.outcome}`}>{a.outcome}</span>
                  </td>
                  <td className="error reason">{a.error ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** Cancel, Retry (optionally with an edited payload) and Discard, where the status allows them. */
function TaskActions({ task }: { task: TaskRecord }) {
  const shortId = task.id.slice(0, 8);
  const action = useTaskAction(task);
  const { draft, setDraft, toggle } = usePayloadDraft(task, action.setError);
  const editorId = `task-payload-editor-${task.id}`;
  const cancellable = canCancel(task);
  const retryable = canRetry(task);
  const discardable = canDiscard(task);
  if (!cancellable && !retryable && !discardable) return null;

  const retry = () => action.retryWithDraft(draft);

  return (
    <div className="task-actions">
      {!action.allowed && <ViewerNote />}
      <div className="actions">
        {cancellable && (
          <button type="button" className="small-button" onClick={() => action.run("cancel")} disabled={action.disabled}>
            Cancel task {shortId}
          </button>
        )}
        {retryable && (
          <>
            <button type="button" className="small-button" onClick={retry} disabled={action.disabled}>
              Retry task {shortId}
            </button>
            <EditPayloadButton shortId={shortId} editorId={editorId} open={draft !== undefined} disabled={!action.allowed} onToggle={toggle} />
          </>
        )}
        {discardable && (
          <button type="button" className="small-button secondary" onClick={() => action.run("discard")} disabled={action.disabled}>
            Discard task {shortId}
          </button>
        )}
      </div>
      {retryable && draft !== undefined && <PayloadEditor editorId={editorId} shortId={shortId} draft={draft} onChange={setDraft} rows={6} />}
      {action.error && (
        <p role="alert" className="error small">
          {action.error}
        </p>
      )}
    </div>
  );
}
