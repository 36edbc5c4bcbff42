// API routes of the insights view: activity series, workers and web nodes.
import { STATS_WINDOW_MINUTES, StatsQuerySchema, type WebNodeList } from "../../lib/insights";
import { parseQuery, redisCall } from "./respond";
import type { Route } from "./router";
import type { StatsStore } from "../metrics/stats-store";
import type { WorkersView } from "../metrics/workers-view";

export function insightsRoutes(deps: { stats: StatsStore; workers: WorkersView; webNodes: () => WebNodeList }): Route[] {
  return [
    {
      method: "GET",
      pattern: /^\/api\/stats\/series$/,
      handler: async (_req, url) => {
        const { minutes, since } = parseQuery(StatsQuerySchema, url);
        const now = Math.floor(Date.now() / 1000);
        // `since` never reaches back further than the window: a tab asks for a few seconds, never the whole series.
        const windowStart = now - Math.min(minutes, STATS_WINDOW_MINUTES) * 60 + 1;
        const from = since === undefined ? windowStart : Math.min(now, Math.max(since, windowStart));
        return [200, await redisCall(() => deps.stats.series(from, now))];
      },
    },
    { method: "GET", pattern: /^\/api\/workers$/, handler: async () => [200, await redisCall(() => deps.workers.current())] },
    { method: "GET", pattern: /^\/api\/web-nodes$/, handler: async () => [200, deps.webNodes()] },
  ];
}
