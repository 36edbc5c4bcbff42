"use client";
// Queue depth: ready, unacknowledged, consumers and dead letters, as pushed by the web node.
import type { QueueStats } from "@/lib/contract";

export function QueuePanel({ stats, error }: { stats?: QueueStats; error?: string }) {
  const items: Array<[string, number | undefined]> = [
    ["Ready", stats?.ready],
    ["Unacked", stats?.unacked],
    ["Consumers", stats?.consumers],
    ["Dead", stats?.dead],
  ];
  return (
    <section className="card" aria-labelledby="queue-heading">
      <h2 id="queue-heading">Queue</h2>
      {stats && <p className="muted">RabbitMQ queue <code>{stats.queue}</code></p>}
      <dl className="stats">
        {items.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd data-testid={`queue-${label.toLowerCase()}`}>{value ?? "…"}</dd>
          </div>
        ))}
      </dl>
      {error && !stats && <p className="error">{error}</p>}
    </section>
  );
}
