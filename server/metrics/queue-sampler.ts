// Reads every known queue's depth once per interval on each web node and says so on the live-event bus:
// "queue:sampled" (TASK_QUEUE, the shape of GET /api/queue) and "queues:sampled" (all of them). Tabs, the metrics
// and the depth chart all take it from there.
import type { QueueList } from "../../lib/contract";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import { runPeriodically } from "../periodic";

export function startQueueSampler(read: () => Promise<QueueList>, live: LiveEvents, intervalMs: number, log: Logger): () => void {
  const sample = async () => {
    const list = await read();
    const { queue, ready, unacked, consumers, dead, paused } = list.queues[0];
    live.emit("queue:sampled", { queue, ready, unacked, consumers, dead, paused });
    live.emit("queues:sampled", list);
  };
  return runPeriodically(sample, { intervalMs, immediately: true, failure: { log, message: "queue stats unavailable" } });
}
