// Which queues an operator has paused: a key per queue in Redis, so every web node and every worker (even one
// started later) agrees, and a pub/sub message on each change so workers hear of it at once.
import { QueuePauseChangeSchema, type QueuePauseChange } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import type { Logger } from "../logger";
import { runPeriodically } from "../periodic";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

/** How often a worker reads its queue's state even without a message (a message lost while Redis reconnected). */
export const PAUSE_RECHECK_MS = 1000;

export class QueuePauses {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Pauses `queue`; resolves false if it was paused already (nothing changes then). */
  async pause(queue: string, by: string): Promise<boolean> {
    const set = await this.redis.set(this.keys.queuePaused(queue), JSON.stringify({ by, at: new Date().toISOString() }), "NX");
    await this.announce(queue);
    return set === "OK";
  }

  /** Resumes `queue`; resolves false if it was not paused. */
  async resume(queue: string): Promise<boolean> {
    const removed = await this.redis.del(this.keys.queuePaused(queue));
    await this.announce(queue);
    return removed > 0;
  }

  async isPaused(queue: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.queuePaused(queue))) > 0;
  }

  /** Whether each of `queues` is paused, in their order (one round trip). */
  async pausedOf(queues: readonly string[]): Promise<boolean[]> {
    if (queues.length === 0) return [];
    const values = await this.redis.mget(...queues.map((q) => this.keys.queuePaused(q)));
    return values.map((v) => v !== null);
  }

  /** Published on every call, changed or not: a worker that missed the first message hears the repeat. */
  private async announce(queue: string): Promise<void> {
    await this.redis.publish(this.keys.queuePauses, JSON.stringify({ v: 1, queue } satisfies QueuePauseChange));
  }

  /**
   * Keeps `onState` told whether `queue` is paused: at once, on every message about it on `subscriber` (a
   * connection in subscriber mode), and every PAUSE_RECHECK_MS. Called with every reading, changed or not; a
   * failed reading is skipped (the last state holds). Returns the stop.
   */
  async watch(subscriber: Redis, queue: string, log: Logger, onState: (paused: boolean) => void, recheckMs = PAUSE_RECHECK_MS): Promise<() => void> {
    const read = async () => onState(await this.isPaused(queue));
    await read();
    const onMessage = (channel: string, raw: string) => {
      if (channel !== this.keys.queuePauses) return;
      const parsed = QueuePauseChangeSchema.safeParse(safeJson(raw));
      if (parsed.success && parsed.data.queue === queue) read().catch(() => undefined); // the periodic reading catches up
    };
    subscriber.on("message", onMessage);
    await subscriber.subscribe(this.keys.queuePauses);
    const stop = runPeriodically(read, { intervalMs: recheckMs, failure: { log, message: "could not read whether the queue is paused; keeping the last state" } });
    return () => {
      stop();
      subscriber.off("message", onMessage);
    };
  }
}
