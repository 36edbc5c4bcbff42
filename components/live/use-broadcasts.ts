"use client";
// The live broadcast feed of the channels this tab follows: the catch-up sent on every (re)connection plus
// `broadcast` events, coalesced; the channel list; and changing the followed channels.
import { useCallback, useEffect, useRef, useState } from "react";
import { ChannelNameSchema, type Broadcast, type BroadcastCatchUp } from "@/lib/contract";
import { createBatcher } from "./batcher";
import { describeZodError } from "@/lib/zod-message";
import { feedAfterFollow, isFollowed, mergeBroadcasts } from "@/lib/live-state";
import { currentSubscription, getSocket, noteBroadcastId, setFollowedChannels } from "./socket-client";
import { useStream } from "./use-stream";

export interface BroadcastFeed {
  /** Newest first, only the followed channels, at most MAX_BROADCASTS_IN_TAB. */
  broadcasts: Broadcast[];
  /** The first catch-up (or follow reply) has arrived. */
  loaded: boolean;
  error?: string;
  /** The server said some broadcasts this tab missed while disconnected are no longer in the history. */
  gap: boolean;
  dismissGap: () => void;
  /** Channels that have had broadcasts, most recently used first (from the server). */
  channels: string[];
  /** The channels this tab follows; null: all. */
  followed: string[] | null;
  /** A change of followed channels awaits the server's answer. */
  changing: boolean;
  follow: (channels: string[] | null) => void;
}

const FOLLOW_TIMEOUT_MS = 10_000;

export function useBroadcasts(): BroadcastFeed {
  const [broadcasts, setBroadcasts] = useState<Broadcast[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string>();
  const [gap, setGap] = useState(false);
  const [channels, setChannels] = useState<string[]>([]);
  const [followed, setFollowed] = useState<string[] | null>(() => currentSubscription().channels ?? null);
  const [changing, setChanging] = useState(false);
  // The channel list; the broadcasts themselves always arrive (for the followed channels).
  useStream("channels");
  // The followed set as of now, for handlers that outlive a render (the batcher's flush, acks).
  const followedRef = useRef(followed);
  // Numbers follow requests, so only the reply to the latest one replaces the feed.
  const followSeq = useRef(0);

  const follow = useCallback((next: string[] | null) => {
    // Validated here as well: a bad name would also make every later handshake fail.
    for (const name of next ?? []) {
      const parsed = ChannelNameSchema.safeParse(name);
      if (!parsed.success) return setError(`Cannot follow "${name}": ${describeZodError(parsed.error)}.`);
    }
    const seq = ++followSeq.current;
    followedRef.current = next;
    setFollowedChannels(next);
    setFollowed(next);
    setChanging(true);
    setBroadcasts((list) => list.filter((b) => isFollowed(b, next)));
    getSocket()
      .timeout(FOLLOW_TIMEOUT_MS)
      .emitWithAck("broadcast:follow", next)
      .then(
        (reply) => {
          if (seq !== followSeq.current) return;
          setChanging(false);
          if ("error" in reply) return setError(reply.error);
          noteBroadcastId(reply.latestId);
          setBroadcasts((list) => feedAfterFollow(list, reply, followedRef.current));
          setLoaded(true);
          setError(undefined);
        },
        () => {
          // The next connection states the new channels in its handshake and catches up then.
          if (seq !== followSeq.current) return;
          setChanging(false);
          setError("No answer from the server within 10 s while changing channels; the feed updates when the connection is back.");
        },
      );
  }, []);

  useEffect(() => {
    const socket = getSocket();
    // Live broadcasts may arrive before this connection's catch-up: only after it may their ids count
    // as "the tab has everything up to here" for the next handshake.
    let caughtUp = false;
    const batcher = createBatcher<Broadcast>((items) => {
      const wanted = items.filter((b) => isFollowed(b, followedRef.current));
      if (wanted.length > 0) setBroadcasts((list) => mergeBroadcasts(list, wanted));
    });
    const onBroadcast = (b: Broadcast) => {
      if (caughtUp) noteBroadcastId(b.id);
      batcher.push(b);
    };
    const onCatchUp = ({ broadcasts: missed, gap: lost, latestId }: BroadcastCatchUp) => {
      caughtUp = true;
      noteBroadcastId(latestId);
      for (const b of missed) noteBroadcastId(b.id);
      setBroadcasts((list) => mergeBroadcasts(list, missed.filter((b) => isFollowed(b, followedRef.current))));
      if (lost) setGap(true);
      setLoaded(true);
    };
    const onDisconnect = () => {
      caughtUp = false;
    };
    const onChannels = ({ channels: list }: { channels: string[] }) => setChannels(list);
    socket.on("broadcast", onBroadcast);
    socket.on("broadcast:catchup", onCatchUp);
    socket.on("broadcast:channels", onChannels);
    socket.on("disconnect", onDisconnect);
    // Mounted on a connection whose catch-up already went by: ask for the recent history of the same channels.
    if (socket.connected) {
      caughtUp = true;
      follow(followedRef.current);
    }
    return () => {
      socket.off("broadcast", onBroadcast);
      socket.off("broadcast:catchup", onCatchUp);
      socket.off("broadcast:channels", onChannels);
      socket.off("disconnect", onDisconnect);
      batcher.cancel();
    };
  }, [follow]);

  const dismissGap = useCallback(() => setGap(false), []);
  return { broadcasts, loaded, error, gap, dismissGap, channels, followed, changing, follow };
}
