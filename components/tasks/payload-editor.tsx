"use client";
// The "Edit payload" toggle and editor of a task's Retry, shared by the task page and the Dead letters view.
import { useState } from "react";
import type { TaskRecord } from "@/lib/contract";
import { fetchJson } from "@/components/live/fetch-json";

/** The edited payload as JSON text; undefined while the editor is closed (Retry then resends the payload unchanged). */
export function usePayloadDraft(task: TaskRecord, onError: (message: string) => void) {
  const [draft, setDraft] = useState<string>();
  const toggle = () => {
    if (draft !== undefined) return setDraft(undefined);
    if (task.payloadBytes === undefined) return setDraft(JSON.stringify(task.payload ?? {}, null, 2));
    // A live copy left a large payload out: edit the whole one.
    fetchJson<TaskRecord>(`/api/tasks/${encodeURIComponent(task.id)}`).then(
      (full) => setDraft(JSON.stringify(full.payload ?? {}, null, 2)),
      (err: Error) => onError(`Could not load the payload: ${err.message}`),
    );
  };
  return { draft, setDraft, toggle };
}

export function EditPayloadButton({ shortId, editorId, open, disabled, onToggle }: { shortId: string; editorId: string; open: boolean; disabled: boolean; onToggle: () => void }) {
  return (
    <button type="button" className="small-button secondary" aria-expanded={open} aria-controls={open ? editorId : undefined} disabled={disabled} onClick={onToggle}>
      Edit payload of task {shortId}
    </button>
  );
}

export function PayloadEditor({ editorId, shortId, draft, onChange, rows }: { editorId: string; shortId: string; draft: string; onChange: (draft: string) => void; rows: number }) {
  return (
    <div className="form payload-editor" id={editorId}>
      <label htmlFor={`${editorId}-input`}>Payload for task {shortId}</label>
      <textarea id={`${editorId}-input`} value={draft} onChange={(e) => onChange(e.target.value)} rows={rows} spellCheck={false} className="mono" />
      <p className="muted small">Retry runs the task with this payload.</p>
    </div>
  );
}
