// Per-second activity counters and queue-depth samples in Redis, one hash per series and minute, kept 20 minutes.
import { COUNTER_SERIES, GAUGE_SERIES, type CounterSeries, type GaugeSeries, type StatsSeries } from "../../lib/insights";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { IoServer } from "../realtime/socket-server";

/** Seconds pushed on every tick: counts that land late in a second already shown are corrected. */
const PUSHED_SECONDS = 5;

/** Buckets outlive the 15-minute window a little, so a window is always complete. */
const BUCKET_TTL_SECONDS = 20 * 60;

/**
 * Keys `<prefix>:stats:<series>:<epochMinute>`, hash field = second of the minute (0–59). Counters are
 * HINCRBY'd where the event happens (workers, the broadcast log); gauges are HSET by every web node's
 * queue-stats ticker, so identical samples from several nodes overwrite each other.
 */
export class StatsStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(series: CounterSeries | GaugeSeries, minute: number): string {
    return `${this.prefix}:stats:${series}:${minute}`;
  }

  /** Counts one event of `series` in the second of `atMs`. */
  async count(series: CounterSeries, atMs = Date.now(), by = 1): Promise<void> {
    const second = Math.floor(atMs / 1000);
    const key = this.key(series, Math.floor(second / 60));
    await this.redis.multi().hincrby(key, String(second % 60), by).expire(key, BUCKET_TTL_SECONDS).exec();
  }

  /**
   * Counts events in memory and writes them together every `intervalMs` (one MULTI, HINCRBY by the count),
   * instead of a round trip per event. The chart shows whole seconds, pushed once a second, so the delay does
   * not show. `flush()` writes what is held (call it at shutdown).
   */
  batched(log: Logger, intervalMs = 250): { count(series: CounterSeries, atMs?: number): void; flush(): Promise<void> } {
    let held = new Map<string, number>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = async () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (held.size === 0) return;
      const batch = held;
      held = new Map();
      const multi = this.redis.multi();
      for (const [field, by] of batch) {
        const [series, second] = field.split(":") as [CounterSeries, string];
        const key = this.key(series, Math.floor(Number(second) / 60));
        multi.hincrby(key, String(Number(second) % 60), by).expire(key, BUCKET_TTL_SECONDS);
      }
      await multi.exec().catch((err: unknown) => log.warn({ err: messageOf(err), events: batch.size }, "activity counters not saved"));
    };
    return {
      count: (series, atMs = Date.now()) => {
        const field = `${series}:${Math.floor(atMs / 1000)}`;
        held.set(field, (held.get(field) ?? 0) + 1);
        timer ??= setTimeout(() => void flush(), intervalMs);
      },
      flush,
    };
  }

  /** Records this second's queue depth. */
  async sample(values: Record<GaugeSeries, number>, atMs = Date.now()): Promise<void> {
    const second = Math.floor(atMs / 1000);
    const minute = Math.floor(second / 60);
    const multi = this.redis.multi();
    for (const name of GAUGE_SERIES) {
      const key = this.key(name, minute);
      multi.hset(key, String(second % 60), String(values[name])).expire(key, BUCKET_TTL_SECONDS);
    }
    await multi.exec();
  }

  /** Every series from `fromSecond` to `toSecond` (epoch seconds, both included), aligned on one axis. */
  async series(fromSecond: number, toSecond: number): Promise<StatsSeries> {
    const names = [...COUNTER_SERIES, ...GAUGE_SERIES];
    const firstMinute = Math.floor(fromSecond / 60);
    const lastMinute = Math.floor(toSecond / 60);
    const pipeline = this.redis.pipeline();
    for (const name of names) for (let m = firstMinute; m <= lastMinute; m++) pipeline.hgetall(this.key(name, m));
    const replies = (await pipeline.exec()) ?? [];
    const length = Math.max(0, toSecond - fromSecond + 1);
    const time = Array.from({ length }, (_, i) => fromSecond + i);
    const out: StatsSeries = { time, succeeded: [], failed: [], dead: [], broadcasts: [], ready: [], unacked: [] };
    let r = 0;
    for (const name of names) {
      const gauge = (GAUGE_SERIES as readonly string[]).includes(name);
      const values: Array<number | null> = Array.from({ length }, () => (gauge ? null : 0));
      for (let m = firstMinute; m <= lastMinute; m++) {
        const [err, hash] = replies[r++] ?? [];
        if (err) throw err;
        for (const [field, raw] of Object.entries((hash ?? {}) as Record<string, string>)) {
          const i = m * 60 + Number(field) - fromSecond;
          if (i >= 0 && i < length) values[i] = Number(raw);
        }
      }
      (out as Record<string, Array<number | null>>)[name] = values;
    }
    return out;
  }
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
