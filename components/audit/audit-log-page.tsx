"use client";
// The audit log page: who did what, when and from where, filtered by action and actor, newest first, live.
import Link from "next/link";
import { useEffect, useState } from "react";
import { AUDIT_ACTIONS, type AuditAction, type AuditEntry } from "@/lib/auth";
import { useConnection } from "@/components/live/use-connection";
import { PageHeader } from "@/components/layout/page-header";
import { Time } from "@/components/ui/time";
import { useScrollTabStop } from "@/components/ui/use-scroll-tab-stop";
import { ACTION_LABELS, AUDIT_SHOWN_MAX, type AuditFilters, formatActor, targetsTask } from "@/lib/audit-view";
import { useAuditLog } from "@/components/live/use-audit-log";

/** How long typing pauses before the actor filter applies. */
const TYPING_DELAY_MS = 300;

export function AuditLogPage({ initial }: { initial: AuditFilters }) {
  const { connected, epoch } = useConnection();
  const [action, setAction] = useState<AuditAction | "">(initial.action ?? "");
  const [actorInput, setActorInput] = useState(initial.actor ?? "");
  const [actor, setActor] = useState(initial.actor ?? "");
  const [scrollRef, scrollTabIndex] = useScrollTabStop<HTMLDivElement>();
  useEffect(() => {
    const timer = setTimeout(() => setActor(actorInput.trim()), TYPING_DELAY_MS);
    return () => clearTimeout(timer);
  }, [actorInput]);
  useEffect(() => {
    // The address names the filters, so a view of the log can be bookmarked or shared.
    const params = new URLSearchParams();
    if (action) params.set("action", action);
    if (actor) params.set("actor", actor);
    window.history.replaceState(null, "", params.size > 0 ? `/audit?${params}` : "/audit");
  }, [action, actor]);

  const log = useAuditLog({ action: action || undefined, actor: actor || undefined }, epoch);
  const entries = log.shown?.entries ?? [];
  const filtered = Boolean(action || actor);

  return (
    <>
      <PageHeader title="Taskcast" current="audit" connected={connected} epoch={epoch} />
      <main className="tasks-main">
        <section className="card" aria-labelledby="audit-heading">
          <h2 id="audit-heading">Audit log</h2>
          <p className="muted small">Every sign-in and operator action (submit, broadcast, cancel, retry, discard), newest first. New entries appear at the top as they happen.</p>
          <form role="search" aria-label="Filter the audit log" className="audit-filters" onSubmit={(e) => e.preventDefault()}>
            <div className="form">
              <label htmlFor="audit-filter-action">Action</label>
              <select id="audit-filter-action" value={action} onChange={(e) => setAction(e.target.value as AuditAction | "")}>
                <option value="">Any action</option>
                {AUDIT_ACTIONS.map((a) => (
                  <option key={a} value={a}>
                    {ACTION_LABELS[a]}
                  </option>
                ))}
              </select>
            </div>
            <div className="form">
              <label htmlFor="audit-filter-actor">Actor</label>
              <input id="audit-filter-actor" value={actorInput} onChange={(e) => setActorInput(e.target.value)} placeholder="A user or token name" autoComplete="off" maxLength={100} />
            </div>
          </form>
          {log.error && (
            <p role="alert" className="error">
              Could not load the audit log: {log.error}
            </p>
          )}
          <p className="muted small" aria-live="polite">
            {log.shown === undefined
              ? log.error
                ? ""
                : "Loading…"
              : `${entries.length} ${entries.length === 1 ? "entry" : "entries"} shown${log.loading ? " (updating…)" : ""}${entries.length >= AUDIT_SHOWN_MAX ? `; the newest ${AUDIT_SHOWN_MAX} are kept on the page as new ones arrive` : ""}`}
          </p>
          <div className="table-scroll" ref={scrollRef}>
            <table className="task-table audit-table" aria-label="Audit log" aria-busy={log.loading} tabIndex={scrollTabIndex}>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Details</th>
                  <th scope="col">From</th>
                </tr>
              </thead>
              <tbody>
                {entries.map((entry) => (
                  <AuditRow key={entry.id} entry={entry} />
                ))}
                {log.shown && entries.length === 0 && (
                  <tr>
                    <td colSpan={6} className="muted">
                      {filtered ? "No entries match." : "Nothing has been recorded yet: sign-ins and operator actions will appear here."}
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          {log.olderError && (
            <p role="alert" className="error small">
              Could not load older entries: {log.olderError}
            </p>
          )}
          <nav className="pager" aria-label="Older entries">
            <button type="button" className="small-button secondary" disabled={!log.shown?.nextBefore || log.loading || log.loadingOlder} onClick={log.loadOlder}>
              {log.loadingOlder ? "Loading older…" : "Load older"}
            </button>
            {log.shown && !log.shown.nextBefore && entries.length > 0 && <span className="muted small">That is the oldest entry kept.</span>}
          </nav>
        </section>
      </main>
    </>
  );
}

function AuditRow({ entry }: { entry: AuditEntry }) {
  const failed = entry.action === "auth.login_failed";
  return (
    <tr className={failed ? "audit-failed" : undefined}>
      <td className="nowrap">
        <Time at={entry.at} />
      </td>
      <td className="nowrap">{formatActor(entry.actor)}</td>
      <td className="nowrap">{ACTION_LABELS[entry.action]}</td>
      <td className="mono nowrap">
        {entry.target === null ? (
          <span className="muted">—</span>
        ) : targetsTask(entry.action) ? (
          <Link href={`/tasks/${encodeURIComponent(entry.target)}`} title={entry.target}>
            {entry.target.slice(0, 8)}
          </Link>
        ) : (
          entry.target
        )}
      </td>
      <td className="audit-detail">{entry.detail ?? <span className="muted">—</span>}</td>
      <td className="nowrap">
        <span className="mono">{entry.ip}</span> <span className="muted small-inline">via {entry.via}</span>
      </td>
    </tr>
  );
}
