// One log line a minute summing up the tasks a worker finished: a short task's success is logged per task only
// at `debug` (a line per task cost a busy worker about a sixth of its CPU), so the info log still shows that work
// is done, how much, and how long it took. Failures, retries, dead and cancelled tasks keep a line each.
import type { TaskRecord, TaskStatus } from "../../lib/contract";
import type { Logger } from "../logger";
import { isoMs } from "../../lib/iso-time";

const FINISHED_SUMMARY_EVERY_MS = 60_000;

export class FinishedSummary {
  private byStatus: Partial<Record<TaskStatus, number>> = {};
  private byType: Record<string, number> = {};
  private durations: number[] = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly log: Logger) {}

  /** Counts a task this worker recorded as finished. */
  count(record: TaskRecord): void {
    this.byStatus[record.status] = (this.byStatus[record.status] ?? 0) + 1;
    this.byType[record.type] = (this.byType[record.type] ?? 0) + 1;
    if (record.startedAt && record.finishedAt && this.durations.length < 100_000) this.durations.push(isoMs(record.finishedAt) - isoMs(record.startedAt));
  }

  /** Logs the summary every `everyMs` while anything finished; returns the stop (which logs what is left). */
  start(everyMs = FINISHED_SUMMARY_EVERY_MS): () => void {
    this.timer = setInterval(() => this.flush(), everyMs);
    this.timer.unref();
    return () => {
      clearInterval(this.timer);
      this.flush();
    };
  }

  flush(): void {
    const finished = Object.values(this.byStatus).reduce((sum, n) => sum + (n ?? 0), 0);
    if (finished === 0) return;
    const sorted = this.durations.sort((a, b) => a - b);
    const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null);
    this.log.info({ finished, byStatus: this.byStatus, byType: this.byType, ms: { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? null } }, "tasks finished");
    this.byStatus = {};
    this.byType = {};
    this.durations = [];
  }
}
