"use client";
// How many tabs are connected across the cluster and per web node, as the server counts them and pushes them.
import { useEffect, useState } from "react";
import type { Presence } from "@/lib/contract";
import { getSocket } from "./socket-client";
import { fetchJson } from "./fetch-json";

export function usePresence(): Presence | undefined {
  const [presence, setPresence] = useState<Presence>();
  useEffect(() => {
    const socket = getSocket();
    socket.on("presence", setPresence);
    // The server sends it on every connection; mounted on a connection already open, read it once.
    if (socket.connected) fetchJson<Presence>("/api/presence").then(setPresence, () => undefined);
    return () => {
      socket.off("presence", setPresence);
    };
  }, []);
  return presence;
}
