// Worker heartbeats in Redis: who is alive, and how many deliveries each holds.
import { z } from "zod";
import type { WorkerInfo } from "../../lib/insights";
import { AnnouncedTypeSchema, OUTSIDE_WORKER_LIVE_MS, type WorkerAnnounce } from "../../lib/worker-protocol";
import { safeJson } from "../../lib/safe-json";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import { redisTime, type Redis } from "../redis/connect";
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
  /** An outside worker (worker protocol): what it is written in, the queue it consumes, the types it runs. */
  language: z.string().optional(),
  queue: z.string().optional(),
  types: z.array(AnnouncedTypeSchema).optional(),
  /** How long it counts as live after its last beat. @defaultValue WORKER_STALE_MS */
  liveMs: z.number().int().positive().optional(),
});
export type WorkerBeat = z.infer<typeof WorkerBeatSchema>;

/** A Taskcast worker that has not beaten for this long is gone (an outside one: its own `liveMs`). */
export const WORKER_STALE_MS = 5000;
/** Beats of workers gone this long are deleted. */
const WORKER_FORGET_MS = 60 * 60 * 1000;
/** Gone workers stay in the workers list this long, marked "gone". */
export const WORKER_GONE_LISTED_MS = 5 * 60 * 1000;

// Stores a beat stamped with Redis's clock, not the worker's: machines' clocks may disagree by seconds, and
// liveness compares beat times with "now". ARGV: worker id, the beat's JSON without beatAt.
const BEAT = `
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], string.sub(ARGV[2], 1, -2) .. ',"beatAt":' .. ms .. '}')
return ms
`;

export class WorkerDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Stores an outside worker's announcement as its beat (live for OUTSIDE_WORKER_LIVE_MS). It has no pid and no
   * processed count (0); `startedAt` is when Taskcast first heard from it.
   */
  async announce(a: WorkerAnnounce): Promise<void> {
    const previous = WorkerBeatSchema.safeParse(safeJson((await this.redis.hget(this.keys.workers, a.worker)) ?? ""));
    const startedAt = previous.success ? previous.data.startedAt : new Date().toISOString();
    await this.beat({ id: a.worker, host: a.host ?? "unknown", pid: 0, concurrency: a.concurrency, inflight: a.inflight, processed: 0, running: [], startedAt, beatAt: 0, language: a.language, queue: a.queue, types: a.types, liveMs: OUTSIDE_WORKER_LIVE_MS });
  }

  /** The last announcement of outside worker `id`, live or not (kept as long as any beat): its queue, for a retry. */
  async announced(id: string): Promise<WorkerBeat | undefined> {
    const parsed = WorkerBeatSchema.safeParse(safeJson((await this.redis.hget(this.keys.workers, id)) ?? ""));
    return parsed.success && parsed.data.queue ? parsed.data : undefined;
  }

  /** Stores a worker's beat; its time is Redis's (the `beatAt` given is ignored). */
  async beat(beat: WorkerBeat): Promise<void> {
    const { beatAt: _ignored, ...rest } = beat;
    await this.redis.eval(BEAT, 1, this.keys.workers, beat.id, JSON.stringify(rest));
  }

  /**
   * Beats for a worker now and every `intervalMs`: its fixed identity with its current state. A beat that
   * cannot be saved is logged; the next one tries again. Returns the stop.
   */
  startBeating(identity: Pick<WorkerBeat, "id" | "host" | "pid" | "concurrency" | "startedAt">, state: () => Pick<WorkerBeat, "inflight" | "processed" | "running">, intervalMs: number, log: Logger): () => void {
    const beat = () => void this.beat({ ...identity, ...state(), beatAt: 0 }).catch((err: unknown) => log.warn({ err: messageOf(err) }, "heartbeat not saved"));
    beat();
    const timer = setInterval(beat, intervalMs);
    return () => clearInterval(timer);
  }

  /** Hash of worker id → last heartbeat JSON of workers that stopped cleanly, for the workers list. */
  private get goneKey(): string {
    return `${this.keys.workers}:gone`;
  }

  /** A worker stopping cleanly leaves the live set at once; its last beat stays listed as gone for a while. */
  async remove(id: string): Promise<void> {
    const [raw, now] = await Promise.all([this.redis.hget(this.keys.workers, id), redisTime(this.redis)]);
    const parsed = WorkerBeatSchema.safeParse(safeJson(raw ?? ""));
    const multi = this.redis.multi().hdel(this.keys.workers, id);
    if (parsed.success) multi.hset(this.goneKey, id, JSON.stringify({ ...parsed.data, beatAt: Math.min(parsed.data.beatAt, now), inflight: 0, running: [] }));
    await multi.exec();
  }

  /** Every live worker, then those gone (silent, or stopped) within the last few minutes; each sorted by id. */
  async list(): Promise<WorkerInfo[]> {
    const now = await redisTime(this.redis);
    const [live, all, stopped] = await Promise.all([this.live(now), this.redis.hgetall(this.keys.workers), this.redis.hgetall(this.goneKey)]);
    const liveIds = new Set(live.map((w) => w.id));
    const gone = new Map<string, WorkerBeat>();
    const forgotten: string[] = [];
    for (const [source, entries] of [["silent", all], ["stopped", stopped]] as const) {
      for (const [id, raw] of Object.entries(entries)) {
        const parsed = WorkerBeatSchema.safeParse(safeJson(raw));
        const recent = parsed.success && now - parsed.data.beatAt <= WORKER_GONE_LISTED_MS;
        if (source === "stopped" && !recent) forgotten.push(id);
        if (!parsed.success || !recent || liveIds.has(id)) continue;
        const seen = gone.get(id);
        if (!seen || seen.beatAt < parsed.data.beatAt) gone.set(id, parsed.data);
      }
    }
    if (forgotten.length > 0) await this.redis.hdel(this.goneKey, ...forgotten);
    const info = (w: WorkerBeat, state: WorkerInfo["state"]): WorkerInfo => ({
      id: w.id,
      host: w.host,
      pid: w.pid,
      concurrency: w.concurrency,
      inflight: state === "gone" ? 0 : w.inflight,
      busy: state === "gone" ? 0 : w.running.length,
      processed: w.processed,
      startedAt: w.startedAt,
      beatAt: w.beatAt,
      heartbeatAgeMs: Math.max(0, now - w.beatAt),
      state,
      ...(w.language !== undefined ? { language: w.language } : {}),
      ...(w.queue !== undefined ? { queue: w.queue } : {}),
    });
    const byId = (a: WorkerBeat, b: WorkerBeat) => a.id.localeCompare(b.id);
    return [...live.sort(byId).map((w) => info(w, "live")), ...[...gone.values()].sort(byId).map((w) => info(w, "gone"))];
  }

  /** Whether live worker `workerId` says it is running task `taskId` right now. */
  async holds(workerId: string, taskId: string): Promise<boolean> {
    return (await this.live()).some((w) => w.id === workerId && w.running.includes(taskId));
  }

  /**
   * Deliveries the live workers hold, by the queue they consume (AMQP cannot count a queue's unacknowledged
   * messages): Taskcast's own workers announce no queue and count for `ownQueue`.
   */
  async inflightByQueue(ownQueue: string): Promise<Map<string, number>> {
    const held = new Map<string, number>();
    for (const w of await this.live()) held.set(w.queue ?? ownQueue, (held.get(w.queue ?? ownQueue) ?? 0) + w.inflight);
    return held;
  }

  /** Workers that beat within WORKER_STALE_MS, by Redis's clock. */
  async live(at?: number): Promise<WorkerBeat[]> {
    const [all, now] = await Promise.all([this.redis.hgetall(this.keys.workers), at ?? redisTime(this.redis)]);
    const live: WorkerBeat[] = [];
    const forgotten: string[] = [];
    for (const [id, raw] of Object.entries(all)) {
      const parsed = WorkerBeatSchema.safeParse(safeJson(raw));
      if (!parsed.success || now - parsed.data.beatAt > WORKER_FORGET_MS) forgotten.push(id);
      else if (now - parsed.data.beatAt <= (parsed.data.liveMs ?? WORKER_STALE_MS)) live.push(parsed.data);
    }
    if (forgotten.length > 0) await this.redis.hdel(this.keys.workers, ...forgotten);
    return live;
  }
}
