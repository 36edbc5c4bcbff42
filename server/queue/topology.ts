// The task queue's RabbitMQ topology: the work queue, its dead-letter queue, and TTL retry queues.
import type { Channel, ChannelModel } from "amqplib";
import { MAX_PRIORITY } from "../../lib/contract";
import type { Logger } from "../logger";

export interface Topology {
  /** The work queue (TASK_QUEUE). */
  queue: string;
  /** Where dead tasks end, with their reason: TASK_QUEUE + ".dead". */
  dead: string;
  type: "classic" | "quorum";
  /** Quorum queues: deliveries after which RabbitMQ dead-letters a message by itself. */
  deliveryLimit: number;
}

export function topologyFor(config: { TASK_QUEUE: string; TASK_QUEUE_TYPE: "classic" | "quorum"; TASK_DELIVERY_LIMIT: number }): Topology {
  return { queue: config.TASK_QUEUE, dead: deadQueueName(config.TASK_QUEUE), type: config.TASK_QUEUE_TYPE, deliveryLimit: config.TASK_DELIVERY_LIMIT };
}

export const deadQueueName = (queue: string) => `${queue}.dead`;

/** A retry queue holds messages for `delayMs`, then dead-letters them back to the work queue. */
export const retryQueueName = (queue: string, delayMs: number) => `${queue}.retry.${delayMs}`;

/** Header carrying why a message is in the dead-letter queue. */
export const REASON_HEADER = "x-taskcast-reason";

export function workQueueArguments(t: Topology): Record<string, unknown> {
  const deadLettering = { "x-dead-letter-exchange": "", "x-dead-letter-routing-key": t.dead };
  return t.type === "quorum"
    ? { "x-queue-type": "quorum", "x-delivery-limit": t.deliveryLimit, ...deadLettering }
    : { "x-max-priority": MAX_PRIORITY, ...deadLettering };
}

/**
 * Declares the dead-letter and work queues on a channel of its own. A work queue left by an older
 * Taskcast (or declared with another TASK_QUEUE_TYPE) has other arguments, which RabbitMQ refuses to
 * change: an empty one is re-declared, a non-empty one is an error that says what to do.
 */
export async function assertTopology(model: ChannelModel, t: Topology, log: Logger): Promise<void> {
  let channel = await model.createChannel();
  channel.on("error", () => undefined); // a refused declaration closes the channel; handled below
  try {
    await channel.assertQueue(t.dead, { durable: true, arguments: t.type === "quorum" ? { "x-queue-type": "quorum" } : {} });
    try {
      await channel.assertQueue(t.queue, { durable: true, arguments: workQueueArguments(t) });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 406) throw err;
    }
    channel = await model.createChannel();
    channel.on("error", () => undefined);
    const existing = await channel.checkQueue(t.queue);
    if (existing.messageCount > 0 || existing.consumerCount > 0) {
      throw new Error(
        `RabbitMQ queue "${t.queue}" exists with different arguments (made by an older Taskcast or with another TASK_QUEUE_TYPE) ` +
          `and holds ${existing.messageCount} messages with ${existing.consumerCount} consumers. Drain it, then delete it ` +
          `(rabbitmqctl delete_queue ${t.queue}) or set TASK_QUEUE to a new name.`,
      );
    }
    await channel.deleteQueue(t.queue, { ifEmpty: true, ifUnused: true });
    await channel.assertQueue(t.queue, { durable: true, arguments: workQueueArguments(t) });
    log.warn({ queue: t.queue }, "re-declared the empty task queue with Taskcast's current arguments");
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** Declares the retry queue for one delay (it deletes itself a minute after its last use). */
export async function assertRetryQueue(channel: Channel, t: Topology, delayMs: number): Promise<string> {
  const name = retryQueueName(t.queue, delayMs);
  await channel.assertQueue(name, {
    durable: true,
    arguments: { "x-message-ttl": delayMs, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": t.queue, "x-expires": delayMs + 60_000 },
  });
  return name;
}
