"use client";
// The recurring schedules page: every schedule with its cron, type, next and last run, live across tabs and web
// nodes; operators add, edit, enable, disable and delete them.
import Link from "next/link";
import { useState } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import { ViewerNote } from "@/components/auth/viewer-note";
import { PageHeader } from "@/components/layout/page-header";
import { sendJson } from "@/components/live/fetch-json";
import { useConnection } from "@/components/live/use-connection";
import { useSchedules } from "@/components/live/use-schedules";
import { Time } from "@/components/ui/time";
import type { ScheduleView } from "@/lib/schedules";
import { ScheduleForm } from "./schedule-form";

export function SchedulesPage() {
  const { connected, epoch } = useConnection();
  const { schedules, error } = useSchedules(epoch);
  const canOperate = useCanOperate();
  // The schedule being edited (its form replaces the add form), or undefined to add one.
  const [editing, setEditing] = useState<ScheduleView>();

  return (
    <>
      <PageHeader title="Taskcast" current="schedules" connected={connected} epoch={epoch} />
      <main className="tasks-main">
        <section className="card" aria-labelledby="schedules-heading">
          <h2 id="schedules-heading">Schedules</h2>
          <p className="muted small">
            Each schedule queues a task of its type at every tick of its cron (5 fields, or 6 with seconds first), once whatever the number of web nodes. Ticks missed in the last hour while no web node ran are caught up, unless catch-up is off.
          </p>
          {error && (
            <p role="alert" className="error">
              Could not load the schedules: {error}
            </p>
          )}
          {schedules === undefined ? (
            !error && <p className="muted small">Loading…</p>
          ) : schedules.length === 0 ? (
            <p className="muted small">No schedules yet.</p>
          ) : (
            <div className="table-scroll">
              <table className="task-table" aria-label="Schedules">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Cron</th>
                    <th scope="col">Type</th>
                    <th scope="col">Next run</th>
                    <th scope="col">Last run</th>
                    <th scope="col">Enabled</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {schedules.map((s) => (
                    <ScheduleRow key={s.name} schedule={s} canOperate={canOperate} onEdit={() => setEditing(s)} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
        {canOperate ? (
          <ScheduleForm key={editing?.name ?? "new"} editing={editing} onDone={() => setEditing(undefined)} />
        ) : (
          <section className="card">
            <ViewerNote />
          </section>
        )}
      </main>
    </>
  );
}

function ScheduleRow({ schedule: s, canOperate, onEdit }: { schedule: ScheduleView; canOperate: boolean; onEdit: () => void }) {
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string>();
  const act = async (what: string, work: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      setError(`Could not ${what} ${s.name}: ${(err as Error).message}`);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };
  const path = `/api/schedules/${encodeURIComponent(s.name)}`;
  return (
    <tr id={`schedule-${s.name}`}>
      <th scope="row">{s.name}</th>
      <td className="mono">
        {s.cron}
        {s.timezone !== "UTC" && <span className="muted small-inline"> ({s.timezone})</span>}
      </td>
      <td>{s.type}</td>
      <td>{s.enabled ? <Time at={s.nextRunAt ?? undefined} /> : <span className="muted">disabled</span>}</td>
      <td>
        <Time at={s.lastRunAt ?? undefined} />
        {s.lastTaskId && (
          <>
            {" "}
            <Link href={`/tasks/${encodeURIComponent(s.lastTaskId)}`} className="mono" aria-label={`Last task of ${s.name}: ${s.lastTaskId.slice(0, 8)}`}>
              {s.lastTaskId.slice(0, 8)}
            </Link>
          </>
        )}
        {s.lastError && <p className="error small">{s.lastError}</p>}
      </td>
      <td>{s.enabled ? "yes" : "no"}</td>
      <td>
        {canOperate && (
          <div className="actions">
            <button type="button" className="small-button secondary" onClick={onEdit} disabled={busy} aria-label={`Edit ${s.name}`}>
              Edit
            </button>
            <button type="button" className="small-button secondary" disabled={busy} aria-label={`${s.enabled ? "Disable" : "Enable"} ${s.name}`} onClick={() => void act(s.enabled ? "disable" : "enable", () => sendJson("PUT", path, { enabled: !s.enabled }))}>
              {s.enabled ? "Disable" : "Enable"}
            </button>
            <button type="button" className="small-button secondary" disabled={busy} aria-label={`Delete ${s.name}`} onClick={() => setConfirming(true)}>
              Delete
            </button>
          </div>
        )}
        {confirming && (
          <div className="confirm small" role="alertdialog" aria-labelledby={`delete-${s.name}-text`}>
            <span id={`delete-${s.name}-text`}>Delete the schedule {s.name}? The tasks it queued stay.</span>{" "}
            <button type="button" className="small-button" disabled={busy} onClick={() => void act("delete", () => sendJson("DELETE", path))}>
              Yes, delete {s.name}
            </button>{" "}
            <button type="button" className="small-button secondary" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        )}
        {error && (
          <p role="alert" className="error small">
            {error}
          </p>
        )}
      </td>
    </tr>
  );
}
