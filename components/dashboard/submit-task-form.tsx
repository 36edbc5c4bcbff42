"use client";
// The form that submits a task over the tab's socket; the acknowledgement carries the id or a clear error.
import { useEffect, useState, type FormEvent } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import { ViewerNote } from "@/components/auth/viewer-note";
import { MAX_PRIORITY, type TaskTypeInfo } from "@/lib/contract";
import { getSocket } from "@/components/live/socket-client";
import { fetchJson } from "@/components/live/fetch-json";

export function SubmitTaskForm({ onSubmitted }: { onSubmitted: (id: string) => void }) {
  const [types, setTypes] = useState<TaskTypeInfo[]>([]);
  const [type, setType] = useState("");
  const [payload, setPayload] = useState("");
  const [priority, setPriority] = useState("0");
  const [busy, setBusy] = useState(false);
  const [feedback, setFeedback] = useState<{ kind: "ok" | "error"; text: string }>();
  const canOperate = useCanOperate();

  useEffect(() => {
    fetchJson<{ types: TaskTypeInfo[] }>("/api/task-types").then(
      ({ types: list }) => {
        setTypes(list);
        if (list[0]) {
          setType(list[0].name);
          setPayload(JSON.stringify(list[0].example, null, 2));
        }
      },
      (err: Error) => setFeedback({ kind: "error", text: `Could not load task types: ${err.message}` }),
    );
  }, []);

  const chooseType = (name: string) => {
    setType(name);
    const info = types.find((t) => t.name === name);
    if (info) setPayload(JSON.stringify(info.example, null, 2));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    let parsed: unknown = {};
    if (payload.trim() !== "") {
      try {
        parsed = JSON.parse(payload);
      } catch (err) {
        setFeedback({ kind: "error", text: `Payload is not valid JSON: ${(err as Error).message}` });
        return;
      }
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      setFeedback({ kind: "error", text: "Payload must be a JSON object, like {\"ms\": 3000}." });
      return;
    }
    const level = priority.trim() === "" ? 0 : Number(priority);
    if (!Number.isInteger(level) || level < 0 || level > MAX_PRIORITY) {
      setFeedback({ kind: "error", text: `Priority must be a whole number from 0 to ${MAX_PRIORITY}.` });
      return;
    }
    setBusy(true);
    try {
      const reply = await getSocket()
        .timeout(10_000)
        .emitWithAck("task:submit", { type, payload: parsed as Record<string, unknown>, priority: level });
      if ("error" in reply) setFeedback({ kind: "error", text: reply.error });
      else {
        onSubmitted(reply.id);
        setFeedback({ kind: "ok", text: `Queued ${type} task ${reply.id.slice(0, 8)}.` });
      }
    } catch {
      setFeedback({ kind: "error", text: "No answer from the server within 10 s; the task may not have been queued. Check the connection and try again." });
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
        {types.map((t) => (
          <option key={t.name} value={t.name} title={t.description}>
            {t.name}
          </option>
        ))}
      </select>
      <label htmlFor="task-payload">Payload</label>
      <textarea id="task-payload" value={payload} onChange={(e) => setPayload(e.target.value)} rows={4} spellCheck={false} className="mono" disabled={!canOperate} />
      <label htmlFor="task-priority">Priority</label>
      <input id="task-priority" type="number" inputMode="numeric" min={0} max={MAX_PRIORITY} step={1} value={priority} onChange={(e) => setPriority(e.target.value)} className="narrow" aria-describedby="task-priority-hint" disabled={!canOperate} />
      <p id="task-priority-hint" className="muted small">
        0 (default) to {MAX_PRIORITY}; higher runs first when tasks wait.
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
