"use client";
// Dead letters: dead tasks no operator has discarded yet, a view of the tab's task records, with retry
// (optionally with an edited payload) and discard.
import Link from "next/link";
import { useCanOperate } from "@/components/auth/session-provider";
import { ViewerNote } from "@/components/auth/viewer-note";
import type { TaskRecord } from "@/lib/contract";
import { EditPayloadButton, PayloadEditor, usePayloadDraft } from "../tasks/payload-editor";
import { useTaskAction } from "@/components/live/use-task-action";

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
  const { draft, setDraft, toggle } = usePayloadDraft(task, action.setError);
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
        <EditPayloadButton shortId={shortId} editorId={editorId} open={draft !== undefined} disabled={!action.allowed} onToggle={toggle} />
      </div>
      {draft !== undefined && <PayloadEditor editorId={editorId} shortId={shortId} draft={draft} onChange={setDraft} rows={3} />}
      {action.error && (
        <p role="alert" className="error small">
          {action.error}
        </p>
      )}
    </li>
  );
}
