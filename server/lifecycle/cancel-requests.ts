// Cancel requests between processes: a web node publishes one on Redis, every worker hears it, and the
// worker running the task aborts its handler. The message has one schema (TaskCancelRequestSchema).
import { TaskCancelRequestSchema, type TaskCancelRequest } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import { describeZodError } from "../../lib/zod-message";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

export class CancelRequests {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Asks every worker to abort task `taskId` if it runs it. */
  async request(taskId: string): Promise<void> {
    await this.redis.publish(this.keys.taskCancel, JSON.stringify({ v: 1, taskId } satisfies TaskCancelRequest));
  }

  /** Calls `onCancel` with each request heard on `subscriber` (a connection in subscriber mode, used for nothing else that matches). */
  static async listen(subscriber: Redis, keys: RedisKeys, log: Logger, onCancel: (taskId: string) => void): Promise<void> {
    subscriber.on("message", (channel: string, raw: string) => {
      if (channel !== keys.taskCancel) return;
      const parsed = TaskCancelRequestSchema.safeParse(safeJson(raw));
      if (parsed.success) onCancel(parsed.data.taskId);
      else log.warn({ err: describeZodError(parsed.error) }, "ignored a malformed cancel request (a web node of another version?)");
    });
    await subscriber.subscribe(keys.taskCancel);
  }
}
