"use client";
// The operator's form that adds a schedule, or changes the one being edited; the server's checks (cron, type,
// payload, time zone) answer in its feedback, and the cron is checked as it is typed.
import { useState, type FormEvent } from "react";
import { MAX_PRIORITY } from "@/lib/contract";
import { cronProblem, type ScheduleView } from "@/lib/schedules";
import { postJson, sendJson } from "@/components/live/fetch-json";
import { TaskTypeOptions } from "@/components/tasks/task-type-options";
import { parsePayloadText, useTaskTypeChoice } from "@/components/live/use-task-types";

export function ScheduleForm({ editing, onDone }: { editing?: ScheduleView; onDone: () => void }) {
  const [name, setName] = useState(editing?.name ?? "");
  const [cron, setCron] = useState(editing?.cron ?? "*/5 * * * *");
  const [timezone, setTimezone] = useState(editing?.timezone ?? "UTC");
  const [priority, setPriority] = useState(String(editing?.priority ?? 0));
  const [enabled, setEnabled] = useState(editing?.enabled ?? true);
  const [catchUp, setCatchUp] = useState(editing?.catchUp ?? true);
  const [busy, setBusy] = useState(false);
  const [feedback, setFeedback] = useState<{ kind: "ok" | "error"; text: string }>();
  const { types, type, chooseType, payload, setPayload } = useTaskTypeChoice((text) => setFeedback({ kind: "error", text }), editing && { type: editing.type, payload: JSON.stringify(editing.payload, null, 2) });

  const cronHint = cron.trim() === "" ? undefined : cronProblem(cron.trim());

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = parsePayloadText(payload);
    if ("error" in parsed) {
      setFeedback({ kind: "error", text: parsed.error });
      return;
    }
    const body = { cron: cron.trim(), type, payload: parsed.payload, timezone: timezone.trim() || "UTC", priority: Number(priority || 0), enabled, catchUp };
    setBusy(true);
    try {
      if (editing) {
        await sendJson("PUT", `/api/schedules/${encodeURIComponent(editing.name)}`, body);
        setFeedback({ kind: "ok", text: `Saved ${editing.name}.` });
        onDone();
      } else {
        await postJson("/api/schedules", { name: name.trim(), ...body });
        setFeedback({ kind: "ok", text: `Added ${name.trim()}.` });
        setName("");
      }
    } catch (err) {
      setFeedback({ kind: "error", text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  const heading = editing ? `Edit ${editing.name}` : "Add a schedule";
  return (
    <form className="card form" onSubmit={submit} aria-labelledby="schedule-form-heading">
      <h2 id="schedule-form-heading">{heading}</h2>
      {!editing && (
        <>
          <label htmlFor="schedule-name">Name</label>
          <input id="schedule-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={64} autoComplete="off" aria-describedby="schedule-name-hint" />
          <p id="schedule-name-hint" className="muted small">
            Letters, digits, &apos;_&apos;, &apos;-&apos; or &apos;.&apos;; it names the schedule in the API and on its tasks.
          </p>
        </>
      )}
      <label htmlFor="schedule-cron">Cron</label>
      <input id="schedule-cron" value={cron} onChange={(e) => setCron(e.target.value)} required className="mono" autoComplete="off" aria-describedby="schedule-cron-hint" aria-invalid={cronHint ? true : undefined} />
      <p id="schedule-cron-hint" className={cronHint ? "error small" : "muted small"}>
        {cronHint ?? "minute hour day-of-month month day-of-week, e.g. */5 * * * * (every 5 minutes); with seconds first, e.g. */10 * * * * * (every 10 seconds)."}
      </p>
      <label htmlFor="schedule-type">Task type</label>
      <select id="schedule-type" value={type} onChange={(e) => chooseType(e.target.value)} required>
        <TaskTypeOptions types={types} current={type} />
      </select>
      <label htmlFor="schedule-payload">Payload</label>
      <textarea id="schedule-payload" value={payload} onChange={(e) => setPayload(e.target.value)} rows={3} spellCheck={false} className="mono" />
      <label htmlFor="schedule-timezone">Time zone</label>
      <input id="schedule-timezone" value={timezone} onChange={(e) => setTimezone(e.target.value)} autoComplete="off" aria-describedby="schedule-timezone-hint" />
      <p id="schedule-timezone-hint" className="muted small">
        An IANA time zone the cron is read in, e.g. UTC or Europe/Paris.
      </p>
      <label htmlFor="schedule-priority">Priority</label>
      <input id="schedule-priority" type="number" inputMode="numeric" min={0} max={MAX_PRIORITY} step={1} value={priority} onChange={(e) => setPriority(e.target.value)} className="narrow" />
      <label className="checkbox">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
      </label>
      <label className="checkbox">
        <input type="checkbox" checked={catchUp} onChange={(e) => setCatchUp(e.target.checked)} /> Catch up ticks missed in the last hour
      </label>
      <div className="actions">
        <button type="submit" disabled={busy || !type}>
          {editing ? "Save schedule" : "Add schedule"}
        </button>
        {editing && (
          <button type="button" className="secondary" onClick={onDone}>
            Cancel editing
          </button>
        )}
      </div>
      {feedback && (
        <p role={feedback.kind === "error" ? "alert" : "status"} className={feedback.kind === "error" ? "error" : "muted"}>
          {feedback.text}
        </p>
      )}
    </form>
  );
}
