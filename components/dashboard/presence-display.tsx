"use client";
// The live count of connected tabs, in total and per web node.
import type { Presence } from "@/lib/contract";

export function PresenceDisplay({ presence }: { presence?: Presence }) {
  return (
    <section className="presence" aria-label="Presence">
      {presence === undefined ? (
        <span className="muted">Counting tabs…</span>
      ) : (
        <>
          <span className="presence-total">
            {presence.total} {presence.total === 1 ? "tab" : "tabs"} connected
          </span>
          <ul className="presence-nodes" aria-label="Tabs per web node">
            {presence.nodes.map((node) => (
              <li key={node.id}>
                <span className="mono">{node.id}</span>: {node.connections}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
