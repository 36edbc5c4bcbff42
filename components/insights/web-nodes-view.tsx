"use client";
// Every web node with its connected tabs and its broadcast delivery lag over the last minute; a slow node stands out.
import type { WebNodeList } from "@/lib/insights";
import { useScrollTabStop } from "@/components/ui/use-scroll-tab-stop";

/** A node whose worst lag in the last minute is above this is marked slow. */
const SLOW_LAG_MS = 250;

export function WebNodesView({ list, error }: { list?: WebNodeList; error?: string }) {
  const worstAvg = Math.max(0, ...(list?.nodes.map((n) => n.lagMs.avgMs ?? 0) ?? []));
  const [scrollRef, scrollTabIndex] = useScrollTabStop<HTMLDivElement>();
  return (
    <section className="card" aria-labelledby="web-nodes-heading">
      <h2 id="web-nodes-heading">Web nodes</h2>
      {list === undefined ? (
        error ? <p className="error">Could not load the web nodes: {error}</p> : <p className="muted">Loading web nodes…</p>
      ) : list.nodes.length === 0 ? (
        <p className="muted">No web node has reported yet.</p>
      ) : (
        <div className="insights-table-wrap" ref={scrollRef}>
          <table className="insights-table" tabIndex={scrollTabIndex}>
            <caption className="visually-hidden">Web nodes</caption>
            <thead>
              <tr>
                <th scope="col">Web node</th>
                <th scope="col">Tabs</th>
                <th scope="col">Broadcast lag (avg)</th>
                <th scope="col">Broadcast lag (max)</th>
              </tr>
            </thead>
            <tbody>
              {list.nodes.map((n) => {
                const slow = (n.lagMs.maxMs ?? 0) > SLOW_LAG_MS || (list.nodes.length > 1 && n.lagMs.avgMs !== null && n.lagMs.avgMs === worstAvg && worstAvg > SLOW_LAG_MS / 2);
                return (
                  <tr key={n.id} className={slow ? "insights-slow" : undefined}>
                    <th scope="row" className="mono">
                      {n.id}
                      {slow && (
                        <>
                          {" "}
                          <span className="status status-retrying insights-slow-tag">slow</span>
                        </>
                      )}
                    </th>
                    <td data-label="Tabs">{n.connections}</td>
                    <td data-label="Lag avg">{n.lagMs.avgMs === null ? "no broadcasts" : `${n.lagMs.avgMs} ms`}</td>
                    <td data-label="Lag max">{n.lagMs.maxMs === null ? "–" : `${n.lagMs.maxMs} ms (${n.lagMs.count} in the last minute)`}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {list && error && <p className="error small">Not updating: {error}</p>}
    </section>
  );
}
