"use client";
// One value the web node pushes as a socket event (queue stats, health, presence, workers, web nodes, activity):
// loaded over HTTP on every (re)connection, then kept current by the pushes. The tab never polls.
import { useEffect, useState } from "react";
import { streamOfEvent, type ServerToClientEvents } from "@/lib/socket-events";
import { fetchJson } from "./fetch-json";
import { getSocket } from "./socket-client";
import { useStream } from "./use-stream";

/** The server-to-client events whose listener takes exactly one value. */
export type PushedEvent = { [E in keyof ServerToClientEvents]: Parameters<ServerToClientEvents[E]> extends [unknown] ? E : never }[keyof ServerToClientEvents];
/** The value an event carries. */
export type Pushed<E extends PushedEvent> = Parameters<ServerToClientEvents[E]>[0];

export interface PushedOptions<T> {
  /**
   * What the HTTP answer does when a value is already shown: "keep" (default) leaves it (it came from a push, or from
   * an earlier connection that pushes keep current), "replace" shows the answer.
   */
  onLoad?: "keep" | "replace";
  /**
   * Set when a push carries only the newest part of the value: it is merged into the value loaded on this connection,
   * and pushes that arrive before that load wait for it. The answer then always replaces the value shown.
   * Must keep its identity between renders (a module-level function).
   */
  merge?: (current: T, pushed: T) => T;
}

/**
 * `load`: the API path to read (JSON, through fetchJson), or a function that reads the value (keep its identity
 * between renders). `epoch`: from useConnection; the value is loaded again whenever it changes, not before the first
 * connection (0). null: the server pushes the value on every connection itself, so it is loaded only when the hook
 * mounts on a connection already open.
 */
export function usePushed<E extends PushedEvent>(
  event: E,
  load: string | (() => Promise<Pushed<E>>),
  epoch: number | null,
  { onLoad = "keep", merge }: PushedOptions<Pushed<E>> = {},
): { data?: Pushed<E>; error?: string } {
  type Data = Pushed<E>;
  const [state, setState] = useState<{ data?: Data; error?: string }>({});
  // The tab receives the event's stream while this is mounted.
  useStream(streamOfEvent(event));
  useEffect(() => {
    const socket = getSocket();
    let cancelled = false;
    // With `merge`: the value as of this connection (loaded, then merged into), and the pushes that came before it.
    let current: Data | undefined;
    let early: Data[] = [];
    const onPush = (data: Data) => {
      if (!merge) return setState({ data });
      if (current === undefined) return void early.push(data);
      current = merge(current, data);
      setState({ data: current });
    };
    socket.on(event, onPush as never);
    if (epoch === null ? socket.connected : epoch > 0) {
      (typeof load === "string" ? fetchJson<Data>(load) : load()).then(
        (data) => {
          if (cancelled) return;
          if (merge) {
            current = early.reduce(merge, data);
            early = [];
            return setState({ data: current });
          }
          setState((s) => (onLoad === "keep" && s.data !== undefined ? s : { data }));
        },
        (err: Error) => !cancelled && setState((s) => ({ data: s.data, error: err.message })),
      );
    }
    return () => {
      cancelled = true;
      socket.off(event, onPush as never);
    };
  }, [event, load, epoch, onLoad, merge]);
  return state;
}
