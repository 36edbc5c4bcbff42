"use client";
// The broadcast feed (newest first) and the box that sends one to every tab.
import { useState, type FormEvent } from "react";
import type { Broadcast } from "@/lib/contract";
import { getSocket } from "@/lib/socket-client";

export function BroadcastPanel({ broadcasts, loaded, error }: { broadcasts: Broadcast[]; loaded: boolean; error?: string }) {
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [sendError, setSendError] = useState<string>();

  const send = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      const reply = await getSocket().timeout(10_000).emitWithAck("broadcast:send", { message });
      if ("error" in reply) setSendError(reply.error);
      else {
        setSendError(undefined);
        setMessage("");
      }
    } catch {
      setSendError("No answer from the server within 10 s; check the connection and try again.");
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card broadcasts" aria-labelledby="broadcasts-heading">
      <h2 id="broadcasts-heading">Broadcasts</h2>
      <form className="inline-form" onSubmit={send}>
        <label htmlFor="broadcast-message" className="visually-hidden">
          Broadcast message
        </label>
        <input id="broadcast-message" type="text" value={message} onChange={(e) => setMessage(e.target.value)} placeholder="Message to every open tab" autoComplete="off" />
        <button type="submit" disabled={busy || message.trim() === ""}>
          Send broadcast
        </button>
      </form>
      {sendError && (
        <p role="alert" className="error">
          {sendError}
        </p>
      )}
      {error && <p className="error">Could not load broadcast history: {error}</p>}
      <ol role="log" aria-label="Broadcast feed" aria-live="polite" className="feed">
        {broadcasts.map((b) => (
          <li key={b.id}>
            <span className="feed-message">{b.message}</span>
            <span className="muted small">
              #{b.id} · {b.source} · <time dateTime={b.at}>{new Date(b.at).toLocaleTimeString()}</time>
            </span>
          </li>
        ))}
      </ol>
      {loaded && broadcasts.length === 0 && <p className="muted">No broadcasts yet.</p>}
    </section>
  );
}
