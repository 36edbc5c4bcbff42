// The schedules stream: when this node changes the schedules or queues a tick, every tab on every node that
// follows `schedules` gets the whole list (a few hundred bytes a schedule), at most once per PUSH_GAP_MS.
import type { ScheduleList } from "../../lib/schedules";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { IoServer } from "./socket-server";
import { pushToStreamEverywhere } from "./stream-rooms";

const PUSH_GAP_MS = 200;

export function relaySchedules(io: IoServer, live: LiveEvents, read: () => Promise<ScheduleList>, log: Logger): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let lastPush = 0;
  const push = async () => {
    timer = undefined;
    lastPush = Date.now();
    try {
      pushToStreamEverywhere(io, "schedules", await read());
    } catch (err) {
      log.warn({ err: messageOf(err) }, "could not read the schedules to push them; tabs get them at the next change");
    }
  };
  const onChange = () => {
    if (timer) return;
    timer = setTimeout(() => void push(), Math.max(0, lastPush + PUSH_GAP_MS - Date.now()));
  };
  live.on("schedules:changed", onChange);
  return {
    stop() {
      live.off("schedules:changed", onChange);
      clearTimeout(timer);
    },
  };
}
