"use client";
// The recurring schedules, live: the list loaded on every (re)connection, then replaced by each `schedules:update`
// push (any node's change or tick).
import { useEffect, useState } from "react";
import type { ScheduleList, ScheduleView } from "@/lib/schedules";
import { fetchJson } from "./fetch-json";
import { getSocket } from "./socket-client";
import { useStream } from "./use-stream";

export function useSchedules(epoch: number): { schedules?: ScheduleView[]; error?: string } {
  useStream("schedules");
  const [state, setState] = useState<{ schedules?: ScheduleView[]; error?: string }>({});
  useEffect(() => {
    if (epoch === 0) return;
    const socket = getSocket();
    let current = true;
    // A push is newer than a load that was asked for before it: once one arrived, the load's answer is dropped.
    let pushed = false;
    const onUpdate = (list: ScheduleList) => {
      pushed = true;
      setState({ schedules: list.schedules });
    };
    socket.on("schedules:update", onUpdate);
    fetchJson<ScheduleList>("/api/schedules").then(
      (list) => current && !pushed && setState({ schedules: list.schedules }),
      (err: Error) => current && setState((s) => ({ ...s, error: err.message })),
    );
    return () => {
      current = false;
      socket.off("schedules:update", onUpdate);
    };
  }, [epoch]);
  return state;
}
