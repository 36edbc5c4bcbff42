"use client";
// The form that submits a task over the tab's socket (several at once, as one batch, with Repeat); the
// acknowledgement carries the ids or a clear error.
import { useState, type FormEvent } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import { ViewerNote } from "@/components/auth/viewer-note";
import { MAX_BATCH_TASKS, MAX_DELAY_MS, MAX_PRIORITY, type BatchSubmitAck, type DelayRequest } from "@/lib/contract";
import { getSocket } from "@/components/live/socket-client";
import { TaskTypeOptions } from "@/components/tasks/task-type-options";
import { parsePayloadText, useTaskTypeChoice } from "@/components/live/use-task-types";

/** The form's Delay (seconds) or Run at (local time) as the submission's `delayMs` or `runAt`; neither: now. */
function readDelay(seconds: string, local: string): { fields: DelayRequest } | { error: string } {
  if (seconds.trim() !== "" && local !== "") return { error: "Fill in Delay or Run at, not both." };
  if (seconds.trim() !== "") {
    const ms = Math.round(Number(seconds) * 1000);
    if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_DELAY_MS) return { error: "Delay must be a number of seconds, more than 0 and at most 30 days." };
    return { fields: { delayMs: ms } };
  }
  if (local === "") return { fields: {} };
  const at = new Date(local);
  if (Number.isNaN(at.getTime())) return { error: "Run at is not a valid date and time." };
  return { fields: { runAt: at.toISOString() } };
}

export function SubmitTaskForm({ onSubmitted }: { onSubmitted: (ids: string[]) => void }) {
  const [priority, setPriority] = useState("0");
  const [repeat, setRepeat] = useState("1");
  const [delaySeconds, setDelaySeconds] = useState("");
  const [runAtLocal, setRunAtLocal] = useState("");
  const [busy, setBusy] = useState(false);
  const [feedback, setFeedback] = useState<{ kind: "ok" | "error"; text: string }>();
  const canOperate = useCanOperate();
  const { types, type, chooseType, payload, setPayload } = useTaskTypeChoice((text) => setFeedback({ kind: "error", text }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = parsePayloadText(payload);
    if ("error" in parsed) {
      setFeedback({ kind: "error", text: parsed.error });
      return;
    }
    const level = priority.trim() === "" ? 0 : Number(priority);
    if (!Number.isInteger(level) || level < 0 || level > MAX_PRIORITY) {
      setFeedback({ kind: "error", text: `Priority must be a whole number from 0 to ${MAX_PRIORITY}.` });
      return;
    }
    const count = repeat.trim() === "" ? 1 : Number(repeat);
    if (!Number.isInteger(count) || count < 1 || count > MAX_BATCH_TASKS) {
      setFeedback({ kind: "error", text: `Repeat must be a whole number from 1 to ${MAX_BATCH_TASKS}.` });
      return;
    }
    const delay = readDelay(delaySeconds, runAtLocal);
    if ("error" in delay) {
      setFeedback({ kind: "error", text: delay.error });
      return;
    }
    const task = { type, payload: parsed.payload, priority: level, ...delay.fields };
    const later = delay.fields.runAt !== undefined || delay.fields.delayMs !== undefined;
    const verb = later ? "Scheduled" : "Queued";
    setBusy(true);
    try {
      // One task keeps the single path; more go as one batch: all queued, or none.
      if (count === 1) {
        const reply = await getSocket().timeout(10_000).emitWithAck("task:submit", task);
        if ("error" in reply) setFeedback({ kind: "error", text: reply.error });
        else {
          onSubmitted([reply.id]);
          setFeedback({ kind: "ok", text: `${verb} ${type} task ${reply.id.slice(0, 8)}.` });
        }
      } else {
        const reply: BatchSubmitAck = await getSocket()
          .timeout(10_000)
          .emitWithAck("task:submitBatch", { tasks: Array.from({ length: count }, () => task) });
        if ("error" in reply) setFeedback({ kind: "error", text: reply.error });
        else {
          onSubmitted(reply.tasks.map((t) => t.id));
          setFeedback({ kind: "ok", text: `${verb} ${reply.tasks.length} ${type} tasks, ${reply.tasks[0].id.slice(0, 8)} to ${reply.tasks[reply.tasks.length - 1].id.slice(0, 8)}.` });
        }
      }
    } catch {
      setFeedback({ kind: "error", text: `No answer from the server within 10 s; the ${count === 1 ? "task" : "tasks"} may not have been queued. Check the connection and try again.` });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={submit} aria-labelledby="submit-heading">
      <h2 id="submit-heading">Submit a task</h2>
      {!canOperate && <ViewerNote />}
      <label htmlFor="task-type">Task type</label>
      <select id="task-type" value={type} onChange={(e) => chooseType(e.target.value)} required disabled={!canOperate}>
        <TaskTypeOptions types={types} />
      </select>
      <label htmlFor="task-payload">Payload</label>
      <textarea id="task-payload" value={payload} onChange={(e) => setPayload(e.target.value)} rows={4} spellCheck={false} className="mono" disabled={!canOperate} />
      <label htmlFor="task-priority">Priority</label>
      <input id="task-priority" type="number" inputMode="numeric" min={0} max={MAX_PRIORITY} step={1} value={priority} onChange={(e) => setPriority(e.target.value)} className="narrow" aria-describedby="task-priority-hint" disabled={!canOperate} />
      <p id="task-priority-hint" className="muted small">
        0 (default) to {MAX_PRIORITY}; higher runs first when tasks wait.
      </p>
      <label htmlFor="task-repeat">Repeat</label>
      <input id="task-repeat" type="number" inputMode="numeric" min={1} max={MAX_BATCH_TASKS} step={1} value={repeat} onChange={(e) => setRepeat(e.target.value)} className="narrow" aria-describedby="task-repeat-hint" disabled={!canOperate} />
      <p id="task-repeat-hint" className="muted small">
        How many copies to submit, 1 to {MAX_BATCH_TASKS}, as one batch: all are queued or none.
      </p>
      <label htmlFor="task-delay">Delay (s)</label>
      <input id="task-delay" type="number" inputMode="decimal" min={0} step="any" value={delaySeconds} onChange={(e) => setDelaySeconds(e.target.value)} className="narrow" aria-describedby="task-later-hint" disabled={!canOperate} />
      <label htmlFor="task-run-at">Run at</label>
      <input id="task-run-at" type="datetime-local" step={1} value={runAtLocal} onChange={(e) => setRunAtLocal(e.target.value)} aria-describedby="task-later-hint" disabled={!canOperate} />
      <p id="task-later-hint" className="muted small">
        Optional, one or the other (up to 30 days ahead): the task waits as scheduled, then is queued. Empty: queued now.
      </p>
      <button type="submit" disabled={busy || !type || !canOperate}>
        Submit task
      </button>
      {feedback && (
        <p role={feedback.kind === "error" ? "alert" : "status"} className={feedback.kind === "error" ? "error" : "muted"}>
          {feedback.text}
        </p>
      )}
    </form>
  );
}
