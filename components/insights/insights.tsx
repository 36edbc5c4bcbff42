"use client";
// The insights page: activity charts, workers and web nodes, live, reloaded on every (re)connection.
import Link from "next/link";
import { StatusBanner } from "@/components/dashboard/status-banner";
import { useConnection } from "@/components/dashboard/use-connection";
import { useHealth } from "@/components/dashboard/use-health";
import { ActivitySection } from "./activity-section";
import { useActivity } from "./use-activity";
import { usePushed } from "./use-pushed";
import { WebNodesView } from "./web-nodes-view";
import { WorkersView } from "./workers-view";

export function Insights() {
  const { connected, epoch } = useConnection();
  const activity = useActivity(epoch);
  const workers = usePushed("workers:update", "/api/workers", epoch);
  const webNodes = usePushed("web-nodes:update", "/api/web-nodes", epoch);
  const health = useHealth(epoch);
  return (
    <>
      <header className="topbar">
        <h1>Taskcast insights</h1>
        <nav aria-label="Pages" className="insights-nav">
          <Link href="/">Dashboard</Link>
        </nav>
        <span className={`indicator ${connected ? "live" : "down"}`} role="status" aria-label="Connection">
          {connected ? "Live" : "Reconnecting…"}
        </span>
      </header>
      <StatusBanner connected={connected} health={health} />
      <main className="insights">
        <ActivitySection activity={activity} />
        <WorkersView list={workers.data} error={workers.error} />
        <WebNodesView list={webNodes.data} error={webNodes.error} />
      </main>
    </>
  );
}
