// Per-second activity counters and queue-depth samples in Redis, one hash per series and minute, kept 20 minutes.
import type { TaskRecord } from "../../lib/contract";
import { COUNTER_SERIES, GAUGE_SERIES, type CounterSeries, type GaugeSeries, type StatsSeries } from "../../lib/insights";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";


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

  /**
   * Counts events in memory and writes them together every `intervalMs` (one MULTI, HINCRBY by the count),
   * instead of a round trip per event. The chart shows whole seconds, pushed once a second, so the delay does
   * not show. `flush()` writes what is held (call it at shutdown).
   */
  batched(log: Logger, intervalMs = 250): { count(series: CounterSeries, atMs?: number): void; countFinished(record: TaskRecord): void; flush(): Promise<void> } {
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
    const count = (series: CounterSeries, atMs = Date.now()) => {
      const field = `${series}:${Math.floor(atMs / 1000)}`;
      held.set(field, (held.get(field) ?? 0) + 1);
      timer ??= setTimeout(() => void flush(), intervalMs);
    };
    return {
      count,
      /** A task's final status, in the second it finished (succeeded, failed and dead have series). */
      countFinished: (record) => {
        if (record.status === "succeeded" || record.status === "failed" || record.status === "dead") count(record.status, record.finishedAt ? Date.parse(record.finishedAt) : Date.now());
      },
      flush,
    };
  }

  /** Records the queue depth of every sample this node takes (the Insights depth chart). */
  followQueueDepth(live: LiveEvents, log: Logger): void {
    live.on("queue:sampled", ({ ready, unacked }) => {
      this.sample({ ready, unacked }).catch((err: unknown) => log.debug({ err: messageOf(err) }, "queue depth sample not saved"));
    });
  }

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
