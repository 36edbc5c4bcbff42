"use client";
// The broadcast feed of the followed channels (newest first), the channels to follow, and the box that sends one.
import { useMemo, useState, type FormEvent } from "react";
import { useCanOperate } from "@/components/auth/session-provider";
import { ViewerNote } from "@/components/auth/viewer-note";
import { ChannelNameSchema, DEFAULT_BROADCAST_CHANNEL } from "@/lib/contract";
import { offeredChannels } from "@/lib/live-state";
import { getSocket } from "@/components/live/socket-client";
import { useScrollTabStop } from "@/components/ui/use-scroll-tab-stop";
import { describeZodError } from "@/lib/zod-message";
import { ChannelFilter } from "./channel-filter";
import type { BroadcastFeed } from "@/components/live/use-broadcasts";

export const GAP_NOTICE = "Some broadcasts were missed while this tab was disconnected: more than the history keeps.";

export function BroadcastPanel({ feed }: { feed: BroadcastFeed }) {
  const { broadcasts, loaded, error, gap, dismissGap, channels, followed, changing, follow } = feed;
  const [message, setMessage] = useState("");
  const [channel, setChannel] = useState(DEFAULT_BROADCAST_CHANNEL);
  const [busy, setBusy] = useState(false);
  const [sendError, setSendError] = useState<string>();
  const canOperate = useCanOperate();
  const [feedRef, feedTabIndex] = useScrollTabStop<HTMLDivElement>();
  // Channels typed into the filter that have had no broadcast yet.
  const [added, setAdded] = useState<string[]>([]);
  const offered = useMemo(() => offeredChannels(channels, followed, added), [channels, followed, added]);
  // Suggestions for sending: the most recently used first, as the server lists them.
  const suggestions = useMemo(() => [...new Set([...channels, ...offered])], [channels, offered]);

  const send = async (event: FormEvent) => {
    event.preventDefault();
    const name = channel.trim() || DEFAULT_BROADCAST_CHANNEL;
    const parsed = ChannelNameSchema.safeParse(name);
    if (!parsed.success) return setSendError(`Channel: ${describeZodError(parsed.error)}.`);
    setBusy(true);
    try {
      const reply = await getSocket().timeout(10_000).emitWithAck("broadcast:send", { message, channel: parsed.data });
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
      {!canOperate && <ViewerNote />}
      <form className="broadcast-form" onSubmit={send}>
        <div className="inline-form">
          <label htmlFor="broadcast-message" className="visually-hidden">
            Broadcast message
          </label>
          <input id="broadcast-message" type="text" value={message} onChange={(e) => setMessage(e.target.value)} placeholder="Message to every tab on the channel" autoComplete="off" disabled={!canOperate} />
          <button type="submit" disabled={busy || message.trim() === "" || !canOperate}>
            Send broadcast
          </button>
        </div>
        <div className="inline-form channel-row">
          <label htmlFor="broadcast-channel">Channel</label>
          <input id="broadcast-channel" type="text" list="broadcast-channel-suggestions" value={channel} onChange={(e) => setChannel(e.target.value)} autoComplete="off" className="channel-input" disabled={!canOperate} />
          <datalist id="broadcast-channel-suggestions">
            {suggestions.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </datalist>
        </div>
      </form>
      {sendError && (
        <p role="alert" className="error">
          {sendError}
        </p>
      )}
      <ChannelFilter offered={offered} followed={followed} changing={changing} follow={follow} onAdd={(c) => setAdded((list) => (list.includes(c) ? list : [...list, c]))} />
      {error && <p className="error">{error}</p>}
      {gap && (
        <div role="alert" className="notice gap-notice">
          <span>{GAP_NOTICE}</span>
          <button type="button" className="secondary small-button" onClick={dismissGap}>
            Dismiss
          </button>
        </div>
      )}
      {/* The log scrolls, and is named: a Tab stop when it does, from which the arrow keys scroll it. */}
      <div role="log" aria-label="Broadcast feed" aria-live="polite" className="feed" ref={feedRef} tabIndex={feedTabIndex}>
        <ol className="feed-list">
          {broadcasts.map((b) => (
            <li key={b.id}>
              <span className="feed-message">{b.message}</span>
              <span className="muted small">
                #{b.id} · <span className="channel-tag">{b.channel}</span> · {b.source} · <time dateTime={b.at}>{new Date(b.at).toLocaleTimeString()}</time>
              </span>
            </li>
          ))}
        </ol>
      </div>
      {loaded && broadcasts.length === 0 && <p className="muted">{followed?.length === 0 ? "Not following any channel: tick one above." : "No broadcasts yet."}</p>}
    </section>
  );
}
