"use client";
// The header of the tasks pages: the way back to the dashboard, to the task list, and the connection indicator.
import Link from "next/link";
import { StatusBanner } from "@/components/dashboard/status-banner";
import { useHealth } from "@/components/dashboard/use-health";

export function TasksHeader({ connected, epoch }: { connected: boolean; epoch: number }) {
  const health = useHealth(epoch);
  return (
    <>
      <header className="topbar">
        <h1>Taskcast</h1>
        <nav className="page-nav" aria-label="Pages">
          <Link href="/">Dashboard</Link>
          <Link href="/tasks">All tasks</Link>
        </nav>
        <span className={`indicator ${connected ? "live" : "down"}`} role="status" aria-label="Connection">
          {connected ? "Live" : "Reconnecting…"}
        </span>
      </header>
      <StatusBanner connected={connected} health={health} />
    </>
  );
}

/** "1.2 s", "3 min 5 s", "2 h 4 min": how long from `from` to `to`. */
export function formatDuration(from: string | undefined, to: string | undefined): string | undefined {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

export function Time({ at }: { at: string | undefined }) {
  if (!at) return <span className="muted">—</span>;
  return (
    <time dateTime={at} title={at}>
      {new Date(at).toLocaleString()}
    </time>
  );
}
