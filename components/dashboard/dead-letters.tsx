"use client";
// Dead letters: dead tasks no operator has discarded yet, a view of the tab's task records, with retry
// (optionally with an edited payload) and discard.
import Link from "next/link";
import { useState } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import { ViewerNote } from "@/components/auth/viewer-note";
import type { TaskRecord } from "@/lib/contract";
import { fetchJson } from "./fetch-json";
import { useTaskAction } from "./use-task-action";

export function DeadLetters({ tasks, loaded, error }: { tasks: TaskRecord[]; loaded: boolean; error?: string }) {
  const canOperate = useCanOperate();
  return (
    <section className="card dead-letters" aria-labelledby="dead-letters-heading">
      <h2 id="dead-letters-heading">Dead letters</h2>
      {!canOperate && tasks.length > 0 && <ViewerNote />}
      {error && <p className="error">Could not load dead letters: {error}</p>}
      {!loaded && !error ? (
        <p className="muted">Loading…</p>
      ) : tasks.length === 0 ? (
        <p className="muted">No dead letters.</p>
      ) : (
        <ul className="tasks">
          {tasks.map((task) => (
            <DeadLetter key={task.id} task={task} />
          ))}
        </ul>
      )}
    </section>
  );
}

function DeadLetter({ task }: { task: TaskRecord }) {
  const shortId = task.id.slice(0, 8);
  const action = useTaskAction(task);
  // undefined: the payload editor is closed and Retry resends the payload unchanged.
  const [draft, setDraft] = useState<string>();
  const editorId = `dead-letter-payload-${task.id}`;

  const retry = () => action.retryWithDraft(draft);

  return (
    <li className="task">
      <div className="task-head">
        <span className="task-type">{task.type}</span>
        <span className="status status-dead">dead</span>
        <Link href={`/tasks/${encodeURIComponent(task.id)}`} className="mono small task-link" title={task.id}>
          {shortId}
        </Link>
        <span className="muted small">
          {task.attempts} {task.attempts === 1 ? "attempt" : "attempts"}
        </span>
        <time className="muted small" dateTime={task.finishedAt ?? task.createdAt}>
          {new Date(task.finishedAt ?? task.createdAt).toLocaleTimeString()}
        </time>
      </div>
      <p className="error small reason">{task.error ?? "No reason was recorded."}</p>
      <div className="actions">
        <button type="button" className="small-button" onClick={retry} disabled={action.disabled}>
          Retry task {shortId}
        </button>
        <button type="button" className="small-button secondary" onClick={() => action.run("discard")} disabled={action.disabled}>
          Discard task {shortId}
        </button>
        <button
          type="button"
          className="small-button secondary"
          aria-expanded={draft !== undefined}
          aria-controls={draft !== undefined ? editorId : undefined}
          disabled={!action.allowed}
          onClick={() => {
            if (draft !== undefined) return setDraft(undefined);
            if (task.payloadBytes === undefined) return setDraft(JSON.stringify(task.payload ?? {}, null, 2));
            // The live copy left a large payload out: edit the whole one.
            fetchJson<TaskRecord>(`/api/tasks/${encodeURIComponent(task.id)}`).then(
              (full) => setDraft(JSON.stringify(full.payload ?? {}, null, 2)),
              (err: Error) => action.setError(`Could not load the payload: ${err.message}`),
            );
          }}
        >
          Edit payload of task {shortId}
        </button>
      </div>
      {draft !== undefined && (
        <div className="form payload-editor" id={editorId}>
          <label htmlFor={`${editorId}-input`}>Payload for task {shortId}</label>
          <textarea id={`${editorId}-input`} value={draft} onChange={(e) => setDraft(e.target.value)} rows={3} spellCheck={false} className="mono" />
          <p className="muted small">Retry runs the task with this payload.</p>
        </div>
      )}
      {action.error && (
        <p role="alert" className="error small">
          {action.error}
        </p>
      )}
    </li>
  );
}
