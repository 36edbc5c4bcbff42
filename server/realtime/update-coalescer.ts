// Holds task updates for a moment and passes on the newest version of each task, together: under load a task
// that starts and finishes within the interval costs one update instead of two or three, and a whole
// interval's updates travel to the web nodes as one message.
import type { TaskRecord } from "../../lib/contract";

/** Records per message, so one message stays well under a megabyte (live copies leave out values over 8 KiB). */
const MAX_BATCH = 200;

export class UpdateCoalescer {
  private pending = new Map<string, TaskRecord>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** @param intervalMs longest an update waits @defaultValue 50 */
  constructor(
    private readonly emit: (records: TaskRecord[]) => void,
    private readonly intervalMs = 50,
  ) {}

  push(record: TaskRecord): void {
    const held = this.pending.get(record.id);
    if (!held || held.version < record.version) this.pending.set(record.id, record);
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Emits everything held now (also on shutdown). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    for (let i = 0; i < batch.length; i += MAX_BATCH) this.emit(batch.slice(i, i + MAX_BATCH));
  }
}
