// Reads the task queue's depth once per interval on each web node and says so on the live-event bus
// ("queue:sampled"): tabs, the metrics and the depth chart all take it from there.
import type { QueueStats } from "../../lib/contract";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";

export function startQueueSampler(read: () => Promise<QueueStats>, live: LiveEvents, intervalMs: number, log: Logger): () => void {
  let failing = false;
  const tick = async () => {
    try {
      const stats = await read();
      failing = false;
      live.emit("queue:sampled", stats);
    } catch (err) {
      if (!failing) log.warn({ err: messageOf(err) }, "queue stats unavailable");
      failing = true;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  void tick();
  return () => clearInterval(timer);
}
