// Holds task updates for a moment and passes on only the newest version of each task: under load a task
// that starts and finishes within the interval costs one event to every tab instead of two or three.
import type { TaskRecord } from "../../lib/contract";

export class UpdateCoalescer {
  private pending = new Map<string, TaskRecord>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** @param intervalMs longest an update waits @defaultValue 50 */
  constructor(
    private readonly emit: (record: TaskRecord) => void,
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
    const batch = this.pending;
    this.pending = new Map();
    for (const record of batch.values()) this.emit(record);
  }
}
