// Stores the successes of summary-tracked tasks (TASK_TRACK_SUMMARY) in batches: the deliveries that finish in the
// same turn of the event loop are counted and marked done in one Redis transaction, each acked once it is stored.
// A mark is what stops a redelivery of the finished task from running it again; it goes once RabbitMQ has
// settled the ack (see TaskConsumer's whenAckSettled) and a margin has passed.
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { SummaryMarks } from "../store/summary-marks";

/**
 * How long a mark outlives the moment its ack was known to be settled: RabbitMQ has taken the ack then, but may
 * not have written it to disk, and a broker that crashes before it does could deliver the message again.
 */
export const SETTLED_MARK_MARGIN_MS = 60_000;

interface Pending {
  id: string;
  type: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class SummaryOutcomes {
  private pending: Pending[] = [];
  /** Ids whose acks are settled, with when they may go, oldest first. */
  private settled: Array<{ id: string; at: number }> = [];
  private flushQueued = false;
  private forgetTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly marks: SummaryMarks,
    private readonly log: Logger,
    private readonly marginMs = SETTLED_MARK_MARGIN_MS,
  ) {}

  /** Counts a task that succeeded and marks it done; resolves once Redis has stored both (then it may be acked). */
  succeeded(id: string, type: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ id, type, resolve, reject });
      if (this.flushQueued) return;
      this.flushQueued = true;
      setImmediate(() => void this.flush());
    });
  }

  /** RabbitMQ has settled the ack of a task stored by `succeeded`: its mark goes after the margin. */
  ackSettled(id: string): void {
    this.settled.push({ id, at: Date.now() + this.marginMs });
    if (!this.forgetTimer) this.forgetLater(Date.now());
  }

  /** A flush when the oldest settled mark is due. */
  private forgetLater(now: number): void {
    clearTimeout(this.forgetTimer);
    this.forgetTimer = undefined;
    if (this.settled.length === 0) return;
    this.forgetTimer = setTimeout(() => {
      this.forgetTimer = undefined;
      void this.flush();
    }, Math.max(0, this.settled[0].at - now) + 50);
    this.forgetTimer.unref();
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const batch = this.pending.splice(0);
    const now = Date.now();
    let due = 0;
    while (due < this.settled.length && this.settled[due].at <= now) due++;
    const forget = this.settled.splice(0, due).map((s) => s.id);
    if (forget.length > 0 || !this.forgetTimer) this.forgetLater(now);
    if (batch.length === 0 && forget.length === 0) return;
    try {
      await this.marks.record(batch, forget);
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
      // Marks not removed now go after SUMMARY_DONE_TTL_MS with the rest.
      if (forget.length > 0) this.log.debug({ err: messageOf(err), marks: forget.length }, "summary marks not removed");
    }
  }
}
