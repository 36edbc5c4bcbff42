// Removes what one test run made: its task queue and the Redis keys under its prefix, nothing else.
import { connect } from "amqplib";
import { Redis } from "ioredis";
import type { Config } from "../../server/config";

export async function removeRunData(config: Config): Promise<void> {
  const conn = await connect(config.RABBITMQ_URL);
  const ch = await conn.createChannel();
  await ch.deleteQueue(config.TASK_QUEUE).catch(() => undefined);
  await conn.close().catch(() => undefined);
  const redis = new Redis(config.REDIS_URL);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${config.KEY_PREFIX}:*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
  await redis.quit();
}
