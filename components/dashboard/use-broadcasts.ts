"use client";
// The live broadcast feed: recent history on every (re)connection plus `broadcast` events, coalesced.
import { useEffect, useState } from "react";
import type { Broadcast } from "@/lib/contract";
import { createBatcher } from "@/lib/batcher";
import { mergeBroadcasts } from "@/lib/live-state";
import { getSocket } from "@/lib/socket-client";
import { fetchJson } from "./fetch-json";

export function useBroadcasts(epoch: number): { broadcasts: Broadcast[]; loaded: boolean; error?: string } {
  const [broadcasts, setBroadcasts] = useState<Broadcast[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    const socket = getSocket();
    const batcher = createBatcher<Broadcast>((items) => setBroadcasts((list) => mergeBroadcasts(list, items)));
    const onBroadcast = (b: Broadcast) => batcher.push(b);
    socket.on("broadcast", onBroadcast);
    if (epoch > 0) {
      fetchJson<{ broadcasts: Broadcast[] }>("/api/broadcasts?limit=50").then(
        ({ broadcasts: history }) => {
          setBroadcasts((list) => mergeBroadcasts(list, history));
          setLoaded(true);
          setError(undefined);
        },
        (err: Error) => setError(err.message),
      );
    }
    return () => {
      socket.off("broadcast", onBroadcast);
      batcher.cancel();
    };
  }, [epoch]);

  return { broadcasts, loaded, error };
}
