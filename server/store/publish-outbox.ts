// The tasks a web node is about to publish: an entry per task in the delayed-task mover's "moving" set
// (keys.scheduledMoving), written before the task's record and removed once RabbitMQ has answered for its message.
// A web node that dies in between (record stored, message perhaps never published) leaves the entry; the node
// holding the mover's lease finds it STALE_MOVE_MS later and publishes the task's message again if the record still
// waits for one (queued, never claimed by a worker): see ScheduledTaskMover. Entries are scored by Redis's clock,
// as the mover's own are, so a node whose clock runs ahead cannot make a fresh entry look stale.
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

// KEYS: the moving set. ARGV: task ids. Each is stamped with Redis's clock (ms).
const MARK_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
return now
`;

export class PublishOutbox {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Marks tasks as being published. Send it before the records' writes on the same connection (Redis runs a
   * connection's commands in order), so no record waits for a message without its mark. It goes as EVAL, not by
   * hash: after a NOSCRIPT, ioredis would send the script again behind the records' writes.
   */
  async mark(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.eval(MARK_SCRIPT, 1, this.keys.scheduledMoving, ...ids);
  }

  /** RabbitMQ answered for these tasks' messages (confirmed, or refused and their records removed). */
  async clear(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.zrem(this.keys.scheduledMoving, ...ids);
  }
}
