// Worker heartbeats in Redis: who is alive, and how many deliveries each holds.
import { z } from "zod";
import { safeJson } from "../../lib/safe-json";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

export const WorkerBeatSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  concurrency: z.number().int(),
  /** Deliveries received and not yet acknowledged. */
  inflight: z.number().int().min(0),
  processed: z.number().int().min(0),
  /** Ids of the tasks it is running. */
  running: z.array(z.string()).default([]),
  startedAt: z.string(),
  beatAt: z.number(),
});
export type WorkerBeat = z.infer<typeof WorkerBeatSchema>;

/** A worker that has not beaten for this long is gone. */
export const WORKER_STALE_MS = 5000;
/** Beats of workers gone this long are deleted. */
const WORKER_FORGET_MS = 60 * 60 * 1000;

export class WorkerDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async beat(beat: WorkerBeat): Promise<void> {
    await this.redis.hset(this.keys.workers, beat.id, JSON.stringify(beat));
  }

  async remove(id: string): Promise<void> {
    await this.redis.hdel(this.keys.workers, id);
  }

  async live(now = Date.now()): Promise<WorkerBeat[]> {
    const all = await this.redis.hgetall(this.keys.workers);
    const live: WorkerBeat[] = [];
    const forgotten: string[] = [];
    for (const [id, raw] of Object.entries(all)) {
      const parsed = WorkerBeatSchema.safeParse(safeJson(raw));
      if (!parsed.success || now - parsed.data.beatAt > WORKER_FORGET_MS) forgotten.push(id);
      else if (now - parsed.data.beatAt <= WORKER_STALE_MS) live.push(parsed.data);
    }
    if (forgotten.length > 0) await this.redis.hdel(this.keys.workers, ...forgotten);
    return live;
  }
}
