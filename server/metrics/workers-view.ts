// The workers list, read from Redis once per interval per web node and served to every tab from memory.
import type { WorkerList } from "../../lib/insights";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { WorkerDirectory } from "../store/worker-directory";

export class WorkersView {
  private latest?: WorkerList;
  private timer?: NodeJS.Timeout;
  private failing = false;

  constructor(
    private readonly directory: WorkerDirectory,
    private readonly log: Logger,
    /** Hears each tick's list ("workers:listed") and pushes it to this node's tabs. */
    private readonly live?: LiveEvents,
  ) {}

  start(intervalMs: number): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async tick(): Promise<WorkerList | undefined> {
    try {
      const now = Date.now();
      this.latest = { workers: await this.directory.list(), at: now };
      this.failing = false;
      this.live?.emit("workers:listed", this.latest);
    } catch (err) {
      if (!this.failing) this.log.warn({ err: messageOf(err) }, "workers list unavailable");
      this.failing = true;
    }
    return this.latest;
  }

  /** The list as of the last tick; read now when there is none yet, or when the last tick failed. */
  async current(): Promise<WorkerList> {
    if (this.latest && !this.failing) return this.latest;
    const now = Date.now();
    return { workers: await this.directory.list(), at: now };
  }
}
