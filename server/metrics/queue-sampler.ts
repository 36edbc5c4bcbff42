// Reads the task queue's depth once per interval on each web node and says so on the live-event bus
// ("queue:sampled"): tabs, the metrics and the depth chart all take it from there.
import type { QueueStats } from "../../lib/contract";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import { runPeriodically } from "../periodic";

export function startQueueSampler(read: () => Promise<QueueStats>, live: LiveEvents, intervalMs: number, log: Logger): () => void {
  return runPeriodically(async () => live.emit("queue:sampled", await read()), { intervalMs, immediately: true, failure: { log, message: "queue stats unavailable" } });
}
