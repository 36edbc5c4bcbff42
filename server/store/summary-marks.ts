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
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * In one transaction: each task's id marked done, each counted under its type, ids in `forget` (acks now
   * settled) removed, and marks older than SUMMARY_DONE_TTL_MS dropped. Resolves once Redis has stored it.
   */
  async record(done: ReadonlyArray<{ id: string; type: string }>, forget: readonly string[], now = Date.now()): Promise<void> {
    const multi = this.redis.multi();
    if (done.length > 0) {
      multi.zadd(this.keys.summaryDone, ...done.flatMap(({ id }) => [now, id]));
      const byType = new Map<string, number>();
      for (const { type } of done) byType.set(type, (byType.get(type) ?? 0) + 1);
      for (const [type, count] of byType) multi.hincrby(this.keys.summarySucceeded, type, count);
      multi.zremrangebyscore(this.keys.summaryDone, "-inf", now - SUMMARY_DONE_TTL_MS);
    }
    if (forget.length > 0) multi.zrem(this.keys.summaryDone, ...forget);
    const replies = await multi.exec();
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw failed?.[0] ?? new Error("Redis discarded the summary transaction");
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
