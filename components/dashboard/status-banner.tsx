"use client";
// One banner for what stops the dashboard from being live: the tab's own connection, or its web node's RabbitMQ or Redis.
import type { Health } from "@/lib/contract";

export function StatusBanner({ connected, health }: { connected: boolean; health?: Health }) {
  const problems: string[] = [];
  if (!connected) problems.push("Reconnecting to Taskcast… Live updates resume, and what was missed is caught up, by themselves.");
  else {
    if (health?.rabbitmq === "down") problems.push("RabbitMQ is unreachable from this web node: new tasks are refused until it is back. Queued work is safe and resumes by itself.");
    if (health?.redis === "down") problems.push("Redis is unreachable from this web node: task records, broadcasts and live updates pause until it is back.");
  }
  if (problems.length === 0) return null;
  return (
    <div role="alert" aria-label="Service status" className="status-banner">
      {problems.map((p) => (
        <p key={p}>{p}</p>
      ))}
    </div>
  );
}
