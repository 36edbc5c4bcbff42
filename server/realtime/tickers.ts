// What each web node pushes to its own tabs as it reads it: queue stats, health, activity.
import type { Health } from "../../lib/contract";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { StatsStore } from "../metrics/stats-store";
import type { IoServer, IoSocket } from "./socket-server";

/** Seconds of activity pushed on every tick: counts that land late in a second already shown are corrected. */
const PUSHED_SECONDS = 5;

/** Pushes each queue sample to this node's own tabs when it changed; new tabs load the current stats over HTTP. */
export function relayQueueStats(io: IoServer, live: LiveEvents): void {
  let last = "";
  live.on("queue:sampled", (stats) => {
    const text = JSON.stringify(stats);
    if (text === last) return;
    last = text;
    io.local.emit("queue:stats", stats);
  });
}

/** Checks this node's RabbitMQ and Redis once per interval and pushes the result to its tabs when it changes. */
export function startHealthTicker(io: IoServer, check: () => Promise<Health>, intervalMs: number): { stop(): void; current(): Health | undefined; sendSnapshot(socket: IoSocket): void } {
  let last: Health | undefined;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const health = await check();
      if (JSON.stringify(health) !== JSON.stringify(last)) io.local.emit("health", health);
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
    sendSnapshot: (socket) => {
      if (last) socket.emit("health", last);
    },
  };
}

/**
 * Once a second per web node: reads the newest seconds of every series and pushes them to this node's
 * tabs (`stats:tick`), so no tab polls. Skipped while the node has no tabs.
 */
export function startStatsTicker(io: IoServer, stats: StatsStore, log: Logger, intervalMs = 1000): () => void {
  let failing = false;
  let busy = false;
  const tick = async () => {
    if (busy || io.of("/").sockets.size === 0) return;
    busy = true;
    try {
      const now = Math.floor(Date.now() / 1000);
      io.local.emit("stats:tick", await stats.series(now - PUSHED_SECONDS + 1, now));
      failing = false;
    } catch (err) {
      if (!failing) log.warn({ err: messageOf(err) }, "activity series unavailable");
      failing = true;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  return () => clearInterval(timer);
}

/** A new connection gets at once what these push only when it changes (presence, channels, health). */
export function sendSnapshotsOnConnect(io: IoServer, sources: ReadonlyArray<{ sendSnapshot(socket: IoSocket): void }>): void {
  io.on("connection", (socket) => {
    for (const source of sources) source.sendSnapshot(socket);
  });
}
