"use client";
// Whether this tab's socket is connected; `epoch` changes on every (re)connection so snapshots reload.
import { useEffect, useState } from "react";
import { getSocket } from "./socket-client";

export function useConnection(): { connected: boolean; epoch: number } {
  const [state, setState] = useState({ connected: false, epoch: 0 });
  useEffect(() => {
    const socket = getSocket();
    const onConnect = () => setState((s) => ({ connected: true, epoch: s.epoch + 1 }));
    const onDisconnect = () => setState((s) => ({ ...s, connected: false }));
    socket.on("connect", onConnect);
    socket.on("disconnect", onDisconnect);
    if (socket.connected) onConnect();
    return () => {
      socket.off("connect", onConnect);
      socket.off("disconnect", onDisconnect);
    };
  }, []);
  return state;
}
