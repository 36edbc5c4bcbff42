// The insights contract: activity series, the workers list and the web nodes list, shared by server, UI and tests.
import { z } from "./zod";

/** How far back the activity series reach. @defaultValue 15 minutes */
export const STATS_WINDOW_MINUTES = 15;

/** Counted series: tasks finished per second by outcome, broadcasts per second. */
export const COUNTER_SERIES = ["succeeded", "failed", "dead", "broadcasts"] as const;
export type CounterSeries = (typeof COUNTER_SERIES)[number];
/** Sampled series: queue depth once per second. */
export const GAUGE_SERIES = ["ready", "unacked"] as const;
export type GaugeSeries = (typeof GAUGE_SERIES)[number];

/** Query of `GET /api/stats/series`: the last `minutes`, or only the seconds from `since` (epoch seconds) on. */
export const StatsQuerySchema = z.object({
  /** @defaultValue 15 */
  minutes: z.coerce.number().int().min(1).max(STATS_WINDOW_MINUTES).default(STATS_WINDOW_MINUTES),
  since: z.coerce.number().int().min(0).optional(),
});
export type StatsQuery = z.infer<typeof StatsQuerySchema>;

const GaugeValuesSchema = z.array(z.number().int().min(0).nullable());

/** The depth of one outside worker's queue, on the series' time axis (null where no web node sampled it). */
export const QueueDepthSeriesSchema = z.object({ queue: z.string(), ready: GaugeValuesSchema, unacked: GaugeValuesSchema });
export type QueueDepthSeries = z.infer<typeof QueueDepthSeriesSchema>;

/**
 * Every series aligned on one time axis `time` (epoch seconds, one per second, oldest first, ending with the
 * current, still growing second). Counters are 0 where nothing happened; gauges are null where no web node sampled.
 * `ready` and `unacked` are TASK_QUEUE's depth; `queues` the other queues' (by name, those sampled in the window).
 */
export const StatsSeriesSchema = z.object({
  time: z.array(z.number().int()),
  succeeded: z.array(z.number().int().min(0)),
  failed: z.array(z.number().int().min(0)),
  dead: z.array(z.number().int().min(0)),
  broadcasts: z.array(z.number().int().min(0)),
  ready: GaugeValuesSchema,
  unacked: GaugeValuesSchema,
  queues: z.array(QueueDepthSeriesSchema),
});
export type StatsSeries = z.infer<typeof StatsSeriesSchema>;

export const WORKER_STATES = ["live", "gone"] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/** One worker as `GET /api/workers` lists it. */
export const WorkerInfoSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  concurrency: z.number().int(),
  /** Deliveries it holds unacknowledged: running, or waiting for a free slot (up to WORKER_PREFETCH). */
  inflight: z.number().int().min(0),
  /** Tasks whose handler it is running now (at most `concurrency`). */
  busy: z.number().int().min(0),
  /** Tasks settled since it started. */
  processed: z.number().int().min(0),
  startedAt: z.string(),
  /** Epoch ms of its last heartbeat. */
  beatAt: z.number(),
  /** Milliseconds since its last heartbeat, when the list was computed. */
  heartbeatAgeMs: z.number().min(0),
  /** "gone": stopped beating (or stopped cleanly); listed for a few minutes after. */
  state: z.enum(WORKER_STATES),
  /** An outside worker (worker protocol): the language it announced, and the queue it consumes. */
  language: z.string().optional(),
  queue: z.string().optional(),
});
export type WorkerInfo = z.infer<typeof WorkerInfoSchema>;

/** `GET /api/workers`: live workers first, then gone ones, each by id. */
export const WorkerListSchema = z.object({ workers: z.array(WorkerInfoSchema), at: z.number() });
export type WorkerList = z.infer<typeof WorkerListSchema>;

/** Broadcast delivery lag of one web node over the last minute: from a broadcast's `at` to its relay to the node's tabs. */
export const RelayLagSchema = z.object({
  /** Broadcasts relayed in the last minute. */
  count: z.number().int().min(0),
  /** Null when nothing was relayed in the last minute. */
  avgMs: z.number().min(0).nullable(),
  maxMs: z.number().min(0).nullable(),
});
export type RelayLag = z.infer<typeof RelayLagSchema>;

/** One web node as `GET /api/web-nodes` lists it. */
export const WebNodeInfoSchema = z.object({
  /** host:port */
  id: z.string(),
  connections: z.number().int().min(0),
  lagMs: RelayLagSchema,
  beatAt: z.number(),
});
export type WebNodeInfo = z.infer<typeof WebNodeInfoSchema>;

/** `GET /api/web-nodes`: live web nodes by id. */
export const WebNodeListSchema = z.object({ nodes: z.array(WebNodeInfoSchema) });
export type WebNodeList = z.infer<typeof WebNodeListSchema>;

/** Replaces the seconds `newer` covers again with its reading, appends the rest, and keeps the last 15 minutes. */
export function mergeSeries(base: StatsSeries, newer: StatsSeries): StatsSeries {
  if (newer.time.length === 0) return base;
  const cut = base.time.findIndex((t) => t >= newer.time[0]);
  const keep = cut === -1 ? base.time.length : cut;
  const drop = Math.max(0, keep + newer.time.length - STATS_WINDOW_MINUTES * 60);
  const join = <T>(a: T[], b: T[]) => [...a.slice(0, keep), ...b].slice(drop);
  return {
    time: join(base.time, newer.time),
    succeeded: join(base.succeeded, newer.succeeded),
    failed: join(base.failed, newer.failed),
    dead: join(base.dead, newer.dead),
    broadcasts: join(base.broadcasts, newer.broadcasts),
    ready: join(base.ready, newer.ready),
    unacked: join(base.unacked, newer.unacked),
    queues: mergeQueues(base, newer, join),
  };
}

/** Each queue of either side joined like the other gauges (null where a side has none); a queue with no sample left goes. */
function mergeQueues(base: StatsSeries, newer: StatsSeries, join: <T>(a: T[], b: T[]) => T[]): QueueDepthSeries[] {
  const names = [...new Set([...base.queues, ...newer.queues].map((q) => q.queue))].sort();
  const none = (length: number): Array<number | null> => Array.from({ length }, () => null);
  return names
    .map((queue) => {
      const [b, n] = [base.queues.find((q) => q.queue === queue), newer.queues.find((q) => q.queue === queue)];
      return {
        queue,
        ready: join(b?.ready ?? none(base.time.length), n?.ready ?? none(newer.time.length)),
        unacked: join(b?.unacked ?? none(base.time.length), n?.unacked ?? none(newer.time.length)),
      };
    })
    .filter((q) => q.ready.some((v) => v !== null) || q.unacked.some((v) => v !== null));
}
