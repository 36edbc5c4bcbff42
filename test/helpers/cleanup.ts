// Removes what one test run made: its task queue and the Redis keys under its prefix, nothing else.
import { connect } from "amqplib";
import { Redis } from "ioredis";
import type { Config } from "../../server/config";
import { eventsQueueName } from "../../lib/worker-protocol";
import { deadQueueName, retryQueueName } from "../../server/queue/topology";
import { backoffDelay, retryPolicy } from "../../server/tasks/define-task";
import { taskTypes } from "../../server/tasks/registry";

/** Every retry queue the built-in task types can declare. */
function retryQueues(queue: string): string[] {
  const delays = new Set<number>();
  for (const definition of taskTypes.values()) {
    const policy = retryPolicy(definition);
    for (let attempt = 1; attempt < policy.maxAttempts; attempt++) delays.add(backoffDelay(policy, attempt));
  }
  return [...delays].map((d) => retryQueueName(queue, d));
}

export async function removeRunData(config: Config): Promise<void> {
  // The first of the nodes that answers (a test may have taken one away).
  let conn: Awaited<ReturnType<typeof connect>> | undefined;
  for (const url of config.rabbitmqUrls) {
    conn = await connect(url).catch(() => undefined);
    if (conn) break;
  }
  if (!conn) throw new Error(`no RabbitMQ node answers of ${config.rabbitmqUrls.length}`);
  // A failed delete closes the channel, so each queue gets a channel of its own.
  for (const queue of [config.TASK_QUEUE, deadQueueName(config.TASK_QUEUE), eventsQueueName(config.TASK_QUEUE), ...retryQueues(config.TASK_QUEUE)]) {
      const ch = await conn.createChannel();
    ch.on("error", () => undefined);
    await ch.deleteQueue(queue).catch(() => undefined);
    await ch.close().catch(() => undefined);
  }
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
