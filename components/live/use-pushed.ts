"use client";
// A list the web node computes once a second for all its tabs (workers, web nodes): loaded over HTTP on
// every (re)connection, then pushed by the node as a socket event. The tab never polls.
import { useEffect, useState } from "react";
import { fetchJson } from "./fetch-json";
import { getSocket } from "./socket-client";
import type { ServerToClientEvents } from "@/lib/socket-events";

type PushedEvent = "workers:update" | "web-nodes:update";

export function usePushed<E extends PushedEvent>(event: E, path: string, epoch: number): { data?: Parameters<ServerToClientEvents[E]>[0]; error?: string } {
  type Data = Parameters<ServerToClientEvents[E]>[0];
  const [state, setState] = useState<{ data?: Data; error?: string }>({});
  useEffect(() => {
    const socket = getSocket();
    let cancelled = false;
    const onPush = (data: Data) => setState({ data });
    socket.on(event, onPush as never);
    if (epoch > 0) {
      fetchJson<Data>(path).then(
        (data) => !cancelled && setState((s) => (s.data ? s : { data })),
        (err: Error) => !cancelled && setState((s) => ({ data: s.data, error: err.message })),
      );
    }
    return () => {
      cancelled = true;
      socket.off(event, onPush as never);
    };
  }, [event, path, epoch]);
  return state;
}
