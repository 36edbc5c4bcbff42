"use client";
// The tasks page: every task record, filtered by status, type and text, 50 a page by cursor, kept live.
import Link from "next/link";
import { useEffect, useState } from "react";
import { TASK_STATUSES, type TaskStatus, type TaskTypeInfo } from "@/lib/contract";
import { SEARCH_PAGE_SIZE, type TaskSearchFilters, type TaskSummary } from "@/lib/task-search";
import { fetchJson } from "@/components/live/fetch-json";
import { useConnection } from "@/components/live/use-connection";
import { PageHeader } from "@/components/layout/page-header";
import { formatDuration, Time } from "@/components/ui/time";
import { useTaskSearch } from "@/components/live/use-task-search";

/** How long typing pauses before a search runs. */
const TYPING_DELAY_MS = 300;

export function TasksPage({ initial }: { initial: TaskSearchFilters }) {
  const { connected, epoch } = useConnection();
  const [status, setStatus] = useState<TaskStatus | "">(initial.status ?? "");
  const [typeInput, setTypeInput] = useState(initial.type ?? "");
  const [qInput, setQInput] = useState(initial.q ?? "");
  const [applied, setApplied] = useState({ type: initial.type ?? "", q: initial.q ?? "" });
  const [types, setTypes] = useState<string[]>([]);

  useEffect(() => {
    const timer = setTimeout(() => setApplied({ type: typeInput.trim(), q: qInput.trim() }), TYPING_DELAY_MS);
    return () => clearTimeout(timer);
  }, [typeInput, qInput]);
  const filters: TaskSearchFilters = { status: status || undefined, type: applied.type || undefined, q: applied.q || undefined };
  const filterKey = `${filters.status}|${filters.type}|${filters.q}`;
  // The cursor each page was loaded from, the last one being the page shown (undefined: the first page); new filters start again from the first.
  const [paging, setPaging] = useState<{ key: string; cursors: Array<string | undefined> }>({ key: filterKey, cursors: [undefined] });
  const cursors = paging.key === filterKey ? paging.cursors : [undefined];
  const setCursors = (next: Array<string | undefined>) => setPaging({ key: filterKey, cursors: next });
  useEffect(() => {
    // The address names the filters, so a search can be bookmarked or shared.
    const params = new URLSearchParams();
    if (filters.status) params.set("status", filters.status);
    if (filters.type) params.set("type", filters.type);
    if (filters.q) params.set("q", filters.q);
    window.history.replaceState(null, "", params.size > 0 ? `/tasks?${params}` : "/tasks");
    // eslint-disable-next-line react-hooks/exhaustive-deps -- filterKey stands for the filters
  }, [filterKey]);
  useEffect(() => {
    fetchJson<{ types: TaskTypeInfo[] }>("/api/task-types").then((r) => setTypes(r.types.map((t) => t.name)), () => {});
  }, []);

  const cursor = cursors.at(-1);
  const search = useTaskSearch(filters, cursor, epoch);
  const rows = search.page?.tasks ?? [];
  const nextCursor = search.page?.nextCursor ?? null;

  return (
    <>
      <PageHeader title="Taskcast" current="tasks" connected={connected} epoch={epoch} />
      <main className="tasks-main">
        <section className="card" aria-labelledby="all-tasks-heading">
          <h2 id="all-tasks-heading">All tasks</h2>
          <form role="search" aria-label="Filter tasks" className="task-filters" onSubmit={(e) => e.preventDefault()}>
            <div className="form">
              <label htmlFor="task-filter-status">Status</label>
              <select id="task-filter-status" value={status} onChange={(e) => setStatus(e.target.value as TaskStatus | "")}>
                <option value="">Any status</option>
                {TASK_STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </div>
            <div className="form">
              <label htmlFor="task-filter-type">Type</label>
              <input id="task-filter-type" list="task-filter-type-options" value={typeInput} onChange={(e) => setTypeInput(e.target.value)} placeholder="Any type" autoComplete="off" />
              <datalist id="task-filter-type-options">
                {types.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </datalist>
            </div>
            <div className="form task-filter-search">
              <label htmlFor="task-filter-q">Search</label>
              <input id="task-filter-q" type="search" value={qInput} onChange={(e) => setQInput(e.target.value)} placeholder="Id, or text in payload, result or error" />
            </div>
          </form>
          {search.error && (
            <p role="alert" className="error">
              Could not load tasks: {search.error}
            </p>
          )}
          <p className="muted small" aria-live="polite">
            {search.page === undefined ? "Loading…" : `Page ${cursors.length}: ${rows.length} ${rows.length === 1 ? "task" : "tasks"}${search.loading ? " (updating…)" : ""}`}
          </p>
          {search.page && rows.length < SEARCH_PAGE_SIZE && nextCursor && (
            <p className="muted small">Only part of the history was searched for this page; Next page searches further back.</p>
          )}
          <div className="table-scroll">
            <table className="task-table" aria-label="Tasks" aria-busy={search.loading}>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Type</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Priority</th>
                  <th scope="col">Created</th>
                  <th scope="col">Finished</th>
                  <th scope="col">Preview</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((task) => (
                  <TaskRow key={task.id} task={task} />
                ))}
                {search.page && rows.length === 0 && (
                  <tr>
                    <td colSpan={8} className="muted">
                      No tasks match.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Pages of tasks">
            <button type="button" className="small-button secondary" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
              Previous page
            </button>
            <button type="button" className="small-button secondary" disabled={!nextCursor || search.loading} onClick={() => nextCursor && setCursors([...cursors, nextCursor])}>
              Next page
            </button>
          </nav>
        </section>
      </main>
    </>
  );
}

function TaskRow({ task }: { task: TaskSummary }) {
  const duration = formatDuration(task.startedAt ?? task.createdAt, task.finishedAt);
  return (
    <tr>
      <td className="mono">
        <Link href={`/tasks/${encodeURIComponent(task.id)}`} title={task.id}>
          {task.id.slice(0, 8)}
        </Link>
      </td>
      <td>{task.type}</td>
      <td>
        <span className={`status status-${task.status}`}>{task.status}</span>
        {task.status === "scheduled" && task.runAt && (
          <span className="muted small-inline">
            {" for "}
            <Time at={task.runAt} />
          </span>
        )}
      </td>
      <td className="num">
        {task.attempts}
        {task.maxAttempts ? ` / ${task.maxAttempts}` : ""}
      </td>
      <td className="num">{task.priority}</td>
      <td className="nowrap">
        <Time at={task.createdAt} />
      </td>
      <td className="nowrap">
        {task.finishedAt ? (
          <>
            <Time at={task.finishedAt} />
            {duration && <span className="muted small-inline"> ({duration})</span>}
          </>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
      <td className="preview mono" title={task.outcomePreview ? `${task.payloadPreview} → ${task.outcomePreview}` : task.payloadPreview}>
        {task.payloadPreview}
        {task.outcomePreview && <span className={task.status === "succeeded" ? "muted" : "error"}> → {task.outcomePreview}</span>}
      </td>
    </tr>
  );
}
