"use client";
// The insights page: activity charts, workers and web nodes, live, reloaded on every (re)connection.
import { useConnection } from "@/components/live/use-connection";
import { PageHeader } from "@/components/layout/page-header";
import { ActivitySection } from "./activity-section";
import { useActivity } from "@/components/live/use-activity";
import { usePushed } from "@/components/live/use-pushed";
import { WebNodesView } from "./web-nodes-view";
import { WorkersView } from "./workers-view";

export function Insights() {
  const { connected, epoch } = useConnection();
  const activity = useActivity(epoch);
  const workers = usePushed("workers:update", "/api/workers", epoch);
  const webNodes = usePushed("web-nodes:update", "/api/web-nodes", epoch);
  return (
    <>
      <PageHeader title="Taskcast insights" current="insights" connected={connected} epoch={epoch} />
      <main className="insights">
        <ActivitySection activity={activity} />
        <WorkersView list={workers.data} error={workers.error} />
        <WebNodesView list={webNodes.data} error={webNodes.error} />
      </main>
    </>
  );
}
