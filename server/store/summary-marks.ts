// What Redis keeps of a summary-tracked task (TASK_TRACK_SUMMARY) that succeeded without a record: a count per
// type, and its id until RabbitMQ has settled its ack, so that a redelivery of the finished task is dropped.
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

/**
 * How long an id is kept at most. Ids are forgotten as soon as the ack is known to be settled (see
 * SummaryOutcomes); this bounds the ones a worker that died before knowing leaves behind. A task redelivered
 * later than this after it succeeded (RabbitMQ down for a day with the ack unsettled) would run again.
 */
export const SUMMARY_DONE_TTL_MS = 24 * 60 * 60_000;

export class SummaryMarks {
  /** When this process last dropped the marks past SUMMARY_DONE_TTL_MS. */
  private trimmedAt = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * In one round trip: each task's id marked done, each counted under its type, ids in `forget` (acks now
   * settled) removed, and at most once a minute, marks older than SUMMARY_DONE_TTL_MS dropped. Resolves once Redis
   * has stored it all; rejects if any part failed (the caller runs those tasks' deliveries again).
   */
  async record(done: ReadonlyArray<{ id: string; type: string }>, forget: readonly string[], now = Date.now()): Promise<void> {
    const pipeline = this.redis.pipeline();
    if (done.length > 0) {
      pipeline.zadd(this.keys.summaryDone, ...done.flatMap(({ id }) => [now, id]));
      const byType = new Map<string, number>();
      for (const { type } of done) byType.set(type, (byType.get(type) ?? 0) + 1);
      for (const [type, count] of byType) pipeline.hincrby(this.keys.summarySucceeded, type, count);
      if (now - this.trimmedAt >= 60_000) {
        this.trimmedAt = now;
        pipeline.zremrangebyscore(this.keys.summaryDone, "-inf", now - SUMMARY_DONE_TTL_MS);
      }
    }
    if (forget.length > 0) pipeline.zrem(this.keys.summaryDone, ...forget);
    const replies = await pipeline.exec();
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw failed?.[0] ?? new Error("Redis did not answer the summary write");
  }

  /** Whether a task succeeded under summary tracking and its ack may be unsettled: its redelivery must not run. */
  async isDone(id: string): Promise<boolean> {
    return (await this.redis.zscore(this.keys.summaryDone, id)) !== null;
  }

  /** Summary-tracked tasks that succeeded without a record, per type, since ever. */
  async succeededByType(): Promise<Record<string, number>> {
    const all = await this.redis.hgetall(this.keys.summarySucceeded);
    return Object.fromEntries(Object.entries(all).map(([type, n]) => [type, Number(n)]));
  }
}
