// Whether this process reaches RabbitMQ and Redis: the body of GET /healthz and the `health` socket event.
import type { Health } from "../../lib/contract";
import { withDeadline } from "../deadline";
import type { AmqpConnection } from "../queue/amqp";
import type { Redis } from "../redis/connect";

const PING_TIMEOUT_MS = 1000;

export function healthCheck(amqp: AmqpConnection, redis: Redis): () => Promise<Health> {
  return async () => {
    const rabbitmq = amqp.isUp() ? "up" : "down";
    const redisUp = await ping(redis);
    return { status: rabbitmq === "up" && redisUp ? "ok" : "degraded", rabbitmq, redis: redisUp ? "up" : "down" };
  };
}

async function ping(redis: Redis): Promise<boolean> {
  if (redis.status !== "ready") return false;
  try {
    return (await withDeadline(redis.ping(), PING_TIMEOUT_MS, () => new Error("timeout"))) === "PONG";
  } catch {
    return false;
  }
}
