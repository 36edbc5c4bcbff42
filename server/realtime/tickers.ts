// What each web node pushes to its own tabs as it reads it: queue stats, health, activity.
import type { Health, QueueList, QueueStats } from "../../lib/contract";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import { runPeriodically } from "../periodic";
import type { StatsStore } from "../metrics/stats-store";
import type { IoServer } from "./socket-server";
import { pushToStream, streamFollowed } from "./stream-rooms";

/** Seconds of activity pushed on every tick: counts that land late in a second already shown are corrected. */
const PUSHED_SECONDS = 5;

/**
 * Pushes each queue sample to this node's own tabs when it changed (TASK_QUEUE on `queue`, every queue on `queues`);
 * new tabs load the current stats over HTTP. `current` and `currentList` are the last ones pushed, for a tab that
 * starts following a stream.
 */
export function relayQueueStats(io: IoServer, live: LiveEvents): { current(): QueueStats | undefined; currentList(): QueueList | undefined } {
  const main = onChange<QueueStats>((stats) => pushToStream(io, "queue", stats));
  const all = onChange<QueueList>((list) => pushToStream(io, "queues", list));
  live.on("queue:sampled", main.take);
  live.on("queues:sampled", all.take);
  return { current: main.current, currentList: all.current };
}

/** Passes on a value only when it differs from the last one (as JSON); `current` is the last one passed on. */
function onChange<T>(push: (value: T) => void): { take(value: T): void; current(): T | undefined } {
  let last = "";
  let current: T | undefined;
  return {
    take: (value) => {
      const text = JSON.stringify(value);
      if (text === last) return;
      last = text;
      current = value;
      push(value);
    },
    current: () => current,
  };
}

/** Checks this node's RabbitMQ and Redis once per interval and pushes the result to its tabs when it changes. */
export function startHealthTicker(io: IoServer, check: () => Promise<Health>, intervalMs: number): { stop(): void; current(): Health | undefined } {
  let last: Health | undefined;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const health = await check();
      if (JSON.stringify(health) !== JSON.stringify(last)) pushToStream(io, "health", health);
      last = health;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  void tick();
  return {
    stop: () => clearInterval(timer),
    current: () => last,
  };
}

/**
 * Once a second per web node: reads the newest seconds of every series and pushes them to this node's
 * tabs that follow the stream (`stats:tick`), so no tab polls. Skipped while none does.
 */
export function startStatsTicker(io: IoServer, stats: StatsStore, log: Logger, intervalMs = 1000): () => void {
  const tick = async () => {
    if (!streamFollowed(io, "stats")) return;
    const now = Math.floor(Date.now() / 1000);
    pushToStream(io, "stats", await stats.series(now - PUSHED_SECONDS + 1, now));
  };
  return runPeriodically(tick, { intervalMs, failure: { log, message: "activity series unavailable" } });
}
