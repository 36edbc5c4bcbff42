// Per-second activity counters and queue-depth samples in Redis, one hash per series and minute, kept 20 minutes.
import type { QueueList, TaskRecord } from "../../lib/contract";
import { COUNTER_SERIES, GAUGE_SERIES, type CounterSeries, type GaugeSeries, type QueueDepthSeries, type StatsSeries } from "../../lib/insights";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import { isoMs } from "../../lib/iso-time";


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

  /** An outside worker's queue's depth series (TASK_QUEUE's are the plain `ready` and `unacked`). */
  private queueKey(queue: string, series: GaugeSeries, minute: number): string {
    return `${this.prefix}:stats:queue:${series}:${minute}:${queue}`;
  }

  /** Sorted set of the other queues sampled, scored by their last sample's epoch second. */
  private get sampledQueues(): string {
    return `${this.prefix}:stats:queues`;
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
        if (record.status === "succeeded" || record.status === "failed" || record.status === "dead") count(record.status, record.finishedAt ? isoMs(record.finishedAt) : Date.now());
      },
      flush,
    };
  }

  /** Records every queue's depth of every sample this node takes (the Insights depth chart). */
  followQueueDepth(live: LiveEvents, log: Logger): void {
    live.on("queues:sampled", (list) => {
      this.sample(list).catch((err: unknown) => log.debug({ err: messageOf(err) }, "queue depth sample not saved"));
    });
  }

  /** One sample of every queue: the first is TASK_QUEUE. */
  async sample({ queues: [main, ...others] }: QueueList, atMs = Date.now()): Promise<void> {
    const second = Math.floor(atMs / 1000);
    const minute = Math.floor(second / 60);
    const field = String(second % 60);
    const multi = this.redis.multi();
    for (const name of GAUGE_SERIES) {
      const key = this.key(name, minute);
      multi.hset(key, field, String(main[name])).expire(key, BUCKET_TTL_SECONDS);
      for (const q of others) {
        const queueKey = this.queueKey(q.queue, name, minute);
        multi.hset(queueKey, field, String(q[name])).expire(queueKey, BUCKET_TTL_SECONDS);
      }
    }
    if (others.length > 0) {
      multi.zadd(this.sampledQueues, ...others.flatMap((q) => [second, q.queue])).zremrangebyscore(this.sampledQueues, "-inf", second - BUCKET_TTL_SECONDS);
      multi.expire(this.sampledQueues, BUCKET_TTL_SECONDS);
    }
    await multi.exec();
  }

  /** Every series from `fromSecond` to `toSecond` (epoch seconds, both included), aligned on one axis. */
  async series(fromSecond: number, toSecond: number): Promise<StatsSeries> {
    const names = [...COUNTER_SERIES, ...GAUGE_SERIES];
    const firstMinute = Math.floor(fromSecond / 60);
    const lastMinute = Math.floor(toSecond / 60);
    const queues = (await this.redis.zrangebyscore(this.sampledQueues, fromSecond, "+inf")).sort();
    const pipeline = this.redis.pipeline();
    for (const name of names) for (let m = firstMinute; m <= lastMinute; m++) pipeline.hgetall(this.key(name, m));
    for (const queue of queues) for (const name of GAUGE_SERIES) for (let m = firstMinute; m <= lastMinute; m++) pipeline.hgetall(this.queueKey(queue, name, m));
    const replies = (await pipeline.exec()) ?? [];
    const length = Math.max(0, toSecond - fromSecond + 1);
    const time = Array.from({ length }, (_, i) => fromSecond + i);
    let r = 0;
    // The next series' values from the replies, one hash per minute.
    const read = (gauge: boolean): Array<number | null> => {
      const values: Array<number | null> = Array.from({ length }, () => (gauge ? null : 0));
      for (let m = firstMinute; m <= lastMinute; m++) {
        const [err, hash] = replies[r++] ?? [];
        if (err) throw err;
        for (const [field, raw] of Object.entries((hash ?? {}) as Record<string, string>)) {
          const i = m * 60 + Number(field) - fromSecond;
          if (i >= 0 && i < length) values[i] = Number(raw);
        }
      }
      return values;
    };
    const out: StatsSeries = { time, succeeded: [], failed: [], dead: [], broadcasts: [], ready: [], unacked: [], queues: [] };
    for (const name of names) (out as unknown as Record<string, Array<number | null>>)[name] = read((GAUGE_SERIES as readonly string[]).includes(name));
    out.queues = queues.map((queue): QueueDepthSeries => ({ queue, ready: read(true), unacked: read(true) }));
    return out;
  }
}
