"use client";
// The live dashboard: one socket, one hook per stream, and views derived from their data.
import { useMemo, useState } from "react";
import { PageHeader } from "@/components/layout/page-header";
import { isFinished, type TaskRecord } from "@/lib/contract";
import { deadLetters } from "@/lib/live-state";
import { BroadcastPanel } from "./broadcast-panel";
import { DeadLetters } from "./dead-letters";
import { PresenceDisplay } from "./presence-display";
import { QueuePanel } from "./queue-panel";
import { SubmitTaskForm } from "./submit-task-form";
import { RecentTasks, RunningTasks } from "./task-lists";
import { useBroadcasts } from "@/components/live/use-broadcasts";
import { useConnection } from "@/components/live/use-connection";
import { usePresence } from "@/components/live/use-presence";
import { useQueueStats } from "@/components/live/use-queue-stats";
import { useTasks } from "@/components/live/use-tasks";

export function Dashboard() {
  const { connected, epoch } = useConnection();
  const queue = useQueueStats(epoch);
  const tasks = useTasks(epoch);
  const feed = useBroadcasts();
  const presence = usePresence();
  // Ids this tab submitted; their finished records become notices (derived, never copied).
  const [mine, setMine] = useState<string[]>([]);
  const notices = useMemo(() => tasks.tasks.filter((t) => mine.includes(t.id) && isFinished(t.status)).slice(0, 5), [tasks.tasks, mine]);
  const dead = useMemo(() => deadLetters(tasks.tasks), [tasks.tasks]);

  return (
    <>
      <PageHeader title="Taskcast" current="dashboard" connected={connected} epoch={epoch}>
        <PresenceDisplay presence={connected ? presence : undefined} />
      </PageHeader>
      <div aria-live="polite" className="notices">
        {notices.map((t) => (
          <p key={t.id} className={`notice status-${t.status}`}>
            {noticeText(t)}
          </p>
        ))}
      </div>
      <main className="grid">
        <div className="column">
          <SubmitTaskForm onSubmitted={(added) => setMine((ids) => [...added, ...ids].slice(0, 100))} />
          <QueuePanel list={queue.list} error={queue.error} />
          <RunningTasks tasks={tasks.tasks} loaded={tasks.loaded} />
          <DeadLetters tasks={dead} loaded={tasks.loaded} error={tasks.error} />
          <RecentTasks tasks={tasks.tasks} loaded={tasks.loaded} error={tasks.error} />
        </div>
        <div className="column">
          <BroadcastPanel feed={feed} />
        </div>
      </main>
    </>
  );
}

/** "Your flaky task 1a2b3c4d dead: Failed 4 of 4 attempts; …", "Your sleep task 5e6f7a8b succeeded." */
function noticeText(task: TaskRecord): string {
  const head = `Your ${task.type} task ${task.id.slice(0, 8)} ${task.status}`;
  if (task.status === "succeeded" || !task.error) return `${head}.`;
  return `${head}: ${task.error}`;
}
