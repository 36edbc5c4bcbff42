"use client";
// Every worker with its host, pid, slots and heartbeat; one that stopped beating stays listed a few minutes as gone.
// An outside worker (worker protocol) shows its language and queue; it has no pid or done count, shown as "-".
import type { WorkerInfo, WorkerList } from "@/lib/insights";
import { useScrollTabStop } from "@/components/ui/use-scroll-tab-stop";

export function WorkersView({ list, error }: { list?: WorkerList; error?: string }) {
  const live = list?.workers.filter((w) => w.state === "live").length ?? 0;
  const [scrollRef, scrollTabIndex] = useScrollTabStop<HTMLDivElement>();
  return (
    <section className="card" aria-labelledby="workers-heading">
      <h2 id="workers-heading">Workers</h2>
      {list === undefined ? (
        error ? <p className="error">Could not load the workers: {error}</p> : <p className="muted">Loading workers…</p>
      ) : list.workers.length === 0 ? (
        <p className="muted">No workers. Start one with <code>npm run start:worker</code>.</p>
      ) : (
        <>
          <p className="muted small">
            {live} live, {list.workers.length - live} gone
          </p>
          <div className="insights-table-wrap" ref={scrollRef}>
            <table className="insights-table" tabIndex={scrollTabIndex}>
              <caption className="visually-hidden">Workers</caption>
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">State</th>
                  <th scope="col">Language</th>
                  <th scope="col">Queue</th>
                  <th scope="col">Host</th>
                  <th scope="col">PID</th>
                  <th scope="col">Concurrency</th>
                  <th scope="col">Busy</th>
                  <th scope="col">Done</th>
                  <th scope="col">Started</th>
                  <th scope="col">Heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {list.workers.map((w) => (
                  <WorkerRow key={w.id} worker={w} />
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {list && error && <p className="error small">Not updating: {error}</p>}
    </section>
  );
}

/** What an outside worker does not report: its pid and how many tasks it settled. */
const NOT_REPORTED = "-";

function WorkerRow({ worker: w }: { worker: WorkerInfo }) {
  // Outside workers always announce their queue; Taskcast's own consume TASK_QUEUE and announce none.
  const outside = w.queue !== undefined;
  return (
    <tr className={w.state === "gone" ? "insights-gone" : undefined}>
      <th scope="row" className="mono">{w.id}</th>
      <td>
        <span className={`status ${w.state === "live" ? "status-succeeded" : "status-cancelled"}`}>{w.state}</span>
      </td>
      <td data-label="Language">{outside ? (w.language ?? NOT_REPORTED) : "TypeScript"}</td>
      <td data-label="Queue" className="mono">{w.queue ?? <span className="muted">TASK_QUEUE</span>}</td>
      <td data-label="Host">{w.host}</td>
      <td data-label="PID" className="mono">{outside ? NOT_REPORTED : w.pid}</td>
      <td data-label="Concurrency">{w.concurrency}</td>
      <td data-label="Busy">
        {outside ? (
          // It announces the deliveries it holds, not which of them it runs.
          <>{w.inflight} held</>
        ) : (
          <>
            {w.busy} of {w.concurrency}
            {w.inflight > w.busy ? <span className="muted"> (+{w.inflight - w.busy} waiting)</span> : null}
          </>
        )}
      </td>
      <td data-label="Done">{outside ? NOT_REPORTED : w.processed}</td>
      <td data-label="Started">
        <time dateTime={w.startedAt}>{new Date(w.startedAt).toLocaleTimeString()}</time>
      </td>
      <td data-label="Heartbeat">{formatAge(w.heartbeatAgeMs)}</td>
    </tr>
  );
}

export function formatAge(ms: number): string {
  if (ms < 1000) return "just now";
  if (ms < 60_000) return `${Math.floor(ms / 1000)} s ago`;
  return `${Math.floor(ms / 60_000)} min ago`;
}
