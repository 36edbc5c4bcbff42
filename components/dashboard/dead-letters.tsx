"use client";
// Dead letters: dead tasks no operator has discarded yet, a view of the tab's task records, with retry
// (optionally with an edited payload) and discard, one by one or in bulk (selected, or all with a confirmation).
import Link from "next/link";
import { useState } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import { ViewerNote } from "@/components/auth/viewer-note";
import type { TaskRecord } from "@/lib/contract";
import { EditPayloadButton, PayloadEditor, usePayloadDraft } from "../tasks/payload-editor";
import { useDeadLetterBulk } from "@/components/live/use-dead-letter-bulk";
import { useTaskAction } from "@/components/live/use-task-action";
import type { DeadLetterBulkAction } from "@/lib/contract";

export function DeadLetters({ tasks, loaded, error }: { tasks: TaskRecord[]; loaded: boolean; error?: string }) {
  const canOperate = useCanOperate();
  const [picked, setPicked] = useState<ReadonlySet<string>>(new Set());
  // Derived: a picked task that left the list (retried, discarded, elsewhere too) is no longer selected.
  const selected = tasks.filter((t) => picked.has(t.id)).map((t) => t.id);
  const toggle = (id: string, on: boolean) =>
    setPicked((cur) => {
      const next = new Set(cur);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  return (
    <section className="card dead-letters" aria-labelledby="dead-letters-heading">
      <h2 id="dead-letters-heading">Dead letters</h2>
      {!canOperate && tasks.length > 0 && <ViewerNote />}
      {error && <p className="error">Could not load dead letters: {error}</p>}
      {loaded && tasks.length > 0 && <BulkActions selected={selected} onDone={() => setPicked(new Set())} />}
      {!loaded && !error ? (
        <p className="muted">Loading…</p>
      ) : tasks.length === 0 ? (
        <p className="muted">No dead letters.</p>
      ) : (
        <ul className="tasks">
          {tasks.map((task) => (
            <DeadLetter key={task.id} task={task} selected={picked.has(task.id)} onSelect={(on) => toggle(task.id, on)} selectable={canOperate} />
          ))}
        </ul>
      )}
    </section>
  );
}

/** "Retry selected", "Discard selected", and "Retry all" / "Discard all" behind a confirmation; the progress of any bulk action. */
function BulkActions({ selected, onDone }: { selected: string[]; onDone: () => void }) {
  const bulk = useDeadLetterBulk();
  const [confirming, setConfirming] = useState<DeadLetterBulkAction>();
  const some = async (action: DeadLetterBulkAction) => {
    if (await bulk.run(action, { ids: selected })) onDone();
  };
  const all = async (action: DeadLetterBulkAction) => {
    setConfirming(undefined);
    if (await bulk.run(action, { all: true })) onDone();
  };
  const n = selected.length;
  return (
    <div className="bulk-actions">
      <div className="actions" role="group" aria-label="Bulk actions on dead letters">
        <button type="button" className="small-button" onClick={() => some("retry")} disabled={bulk.disabled || n === 0}>
          Retry selected{n > 0 ? ` (${n})` : ""}
        </button>
        <button type="button" className="small-button secondary" onClick={() => some("discard")} disabled={bulk.disabled || n === 0}>
          Discard selected{n > 0 ? ` (${n})` : ""}
        </button>
        <button type="button" className="small-button" onClick={() => setConfirming("retry")} disabled={bulk.disabled}>
          Retry all
        </button>
        <button type="button" className="small-button secondary" onClick={() => setConfirming("discard")} disabled={bulk.disabled}>
          Discard all
        </button>
      </div>
      {confirming && (
        <div className="confirm small" role="alertdialog" aria-labelledby="bulk-confirm-text">
          <span id="bulk-confirm-text">
            {confirming === "retry" ? "Retry every dead letter, not only those listed here?" : "Discard every dead letter, not only those listed here? Their records stay, marked discarded."}
          </span>{" "}
          <button type="button" className="small-button" onClick={() => all(confirming)}>
            {confirming === "retry" ? "Yes, retry all" : "Yes, discard all"}
          </button>{" "}
          <button type="button" className="small-button secondary" onClick={() => setConfirming(undefined)}>
            Cancel
          </button>
        </div>
      )}
      {bulk.running && (
        <p className="muted small" role="status">
          {bulk.running.action === "retry" ? "Retrying" : "Discarding"} dead letters ({bulk.running.by}): {bulk.running.done} of {bulk.running.total} done
        </p>
      )}
      {bulk.outcome && (
        <p className="muted small" role="status">
          {bulk.outcome}
        </p>
      )}
      {bulk.error && (
        <p role="alert" className="error small">
          {bulk.error}
        </p>
      )}
    </div>
  );
}

function DeadLetter({ task, selected, onSelect, selectable }: { task: TaskRecord; selected: boolean; onSelect: (on: boolean) => void; selectable: boolean }) {
  const shortId = task.id.slice(0, 8);
  const action = useTaskAction(task);
  const { draft, setDraft, toggle } = usePayloadDraft(task, action.setError);
  const editorId = `dead-letter-payload-${task.id}`;

  const retry = () => action.retryWithDraft(draft);

  return (
    <li className="task">
      <div className="task-head">
        {selectable && <input type="checkbox" checked={selected} onChange={(e) => onSelect(e.target.checked)} aria-label={`Select task ${shortId}`} />}
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
