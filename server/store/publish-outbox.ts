// The tasks a web node is about to publish: an entry per task in the delayed-task mover's "moving" set
// (keys.scheduledMoving), written before the task's record (a submission) or in the same script as the change that
// queues an existing record (TaskStore's `publishing` write: an operator's retry, a lost retry queued again), and
// removed once RabbitMQ has answered for its message.
// A web node that dies in between (record stored, message perhaps never published) leaves the entry; the node
// holding the mover's lease finds it once it is STALE_MOVE_MS (15 s) old and publishes the task's message again if
// the record still waits for one (queued, not claimed by a worker since): see ScheduledTaskMover. While a node lives it
// stamps its marks again every REFRESH_MS, so a publish that RabbitMQ holds up for longer (a memory or disk alarm
// blocks publishers for minutes) is not published a second time by the mover. Entries are scored by Redis's clock,
// as the mover's own are, so a node whose clock runs ahead cannot make a fresh entry look stale.
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

// KEYS: the moving set. ARGV: "add" (mark) or "again" (stamp only the marks still there: a mark cleared meanwhile
// stays cleared), then task ids. Each is stamped with Redis's clock (ms).
const MARK_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do
  if ARGV[1] == 'again' then redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i]) else redis.call('ZADD', KEYS[1], now, ARGV[i]) end
end
return now
`;

/** How often a live node stamps the marks of its publishes still waiting for RabbitMQ: well inside the mover's 15 s. */
const REFRESH_MS = 5000;
/** Most ids per stamping script call. */
const STAMP_BATCH = 1000;

export class PublishOutbox {
  /** This node's marks whose publish RabbitMQ has not answered yet. */
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Starts stamping this node's pending marks every REFRESH_MS. */
  start(): void {
    this.timer ??= setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Marks tasks as being published. Send it before the records' writes on the same connection (Redis runs a
   * connection's commands in order), so no record waits for a message without its mark. It goes as EVAL, not by
   * hash: after a NOSCRIPT, ioredis would send the script again behind the records' writes.
   */
  async mark(ids: string[]): Promise<void> {
    this.track(ids);
    await this.stamp("add", ids);
  }

  /**
   * Stamps these tasks' marks from now on, until they are released or cleared: marks written with the records'
   * change (TaskStore's `publishing` write) of tasks this node now publishes.
   */
  track(ids: string[]): void {
    for (const id of ids) this.pending.add(id);
  }

  /**
   * Publishes tasks whose marks their records' change wrote (`publishing`): the marks are stamped while `publish`
   * runs and cleared once it has settled, unless `publish` failed and `undo` (putting the records back as they were,
   * so none says queued without a message) failed too: the marks then stay for the mover, which publishes a task
   * whose record still waits for its message (queued, unclaimed) and drops any other mark. Rejects with the
   * publish's error.
   */
  async publishMarked(ids: string[], publish: () => Promise<unknown>, undo: () => Promise<unknown>): Promise<void> {
    this.track(ids);
    try {
      await publish();
    } catch (err) {
      await undo().then(
        () => this.clear(ids),
        () => this.release(ids),
      ).catch(() => undefined);
      throw err;
    }
    await this.clear(ids).catch(() => undefined);
  }

  /** This node no longer publishes these tasks (RabbitMQ answered): their marks are not stamped again. */
  release(ids: string[]): void {
    for (const id of ids) this.pending.delete(id);
  }

  /** RabbitMQ confirmed these tasks' messages, or refused them and their records are removed: their marks go. */
  async clear(ids: string[]): Promise<void> {
    this.release(ids);
    if (ids.length > 0) await this.redis.zrem(this.keys.scheduledMoving, ...ids);
  }

  /** Stamps the pending marks again; a failure waits for the next round (the mover needs Redis too). */
  private async refresh(): Promise<void> {
    const ids = [...this.pending];
    for (let i = 0; i < ids.length; i += STAMP_BATCH) await this.stamp("again", ids.slice(i, i + STAMP_BATCH)).catch(() => undefined);
  }

  private async stamp(mode: "add" | "again", ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.eval(MARK_SCRIPT, 1, this.keys.scheduledMoving, mode, ...ids);
  }
}
