// One attempt's `ctx.log` lines: to the worker's log at once, and to Redis and the task's tabs in batches.
import { logLine, MAX_LOG_LINES_PER_ATTEMPT, type TaskLogBatch, type TaskLogLine } from "../../lib/task-logs";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { TaskLogStore } from "../store/task-logs";

/** A handler's log lines are written to Redis (and pushed to browsers) at most this often per task, and at the attempt's end. */
export const LOG_FLUSH_MS = 250;

export interface AttemptLogSink {
  store: Pick<TaskLogStore, "append">;
  /** Pushes lines just stored to the tabs showing the task. */
  publish: (batch: TaskLogBatch) => void;
}

/**
 * Made on an attempt's first line, so a handler that never logs costs nothing. Lines are buffered (the newest
 * MAX_LOG_LINES_PER_ATTEMPT) and written one batch at a time, in order; `close` writes the rest.
 */
export class AttemptLog {
  private buffer: TaskLogLine[] = [];
  private count = 0;
  private stored = 0;
  private timer: NodeJS.Timeout | undefined;
  private writes: Promise<void> = Promise.resolve();
  private open = true;

  constructor(
    private readonly taskId: string,
    private readonly attempt: number,
    private readonly run: number,
    private readonly sink: AttemptLogSink | undefined,
    private readonly log: Logger,
    private readonly now: () => string,
  ) {}

  add(message: string, fields?: Record<string, unknown>): void {
    const line = logLine(this.attempt, this.run, ++this.count, this.now(), message, fields);
    this.log.info(line.fields ? { taskId: this.taskId, attempt: this.attempt, fields: line.fields } : { taskId: this.taskId, attempt: this.attempt }, line.message);
    // Lines logged after the attempt ended (a handler that left work behind) go to the worker's log only.
    if (!this.sink || !this.open) return;
    this.buffer.push(line);
    if (this.buffer.length > MAX_LOG_LINES_PER_ATTEMPT) this.buffer.shift();
    this.timer ??= setTimeout(() => this.flush(), LOG_FLUSH_MS);
  }

  /** Writes what is buffered; resolves once every line of the attempt is stored (or failed to be, which is logged). */
  close(): Promise<void> {
    this.open = false;
    this.flush();
    return this.writes;
  }

  /** Ends the attempt keeping its lines in the worker's log only: its task gets no record (summary tracking). */
  drop(): void {
    this.open = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.buffer = [];
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const sink = this.sink;
    if (!sink || this.buffer.length === 0) return;
    const batch = this.buffer;
    const before = this.stored;
    this.buffer = [];
    this.stored += batch.length;
    this.writes = this.writes
      .then(() => sink.store.append(this.taskId, batch, before))
      .then((kept) => void (kept && sink.publish({ taskId: this.taskId, lines: batch })))
      .catch((err: unknown) => this.log.warn({ taskId: this.taskId, err: messageOf(err) }, "log lines not saved"));
  }
}
