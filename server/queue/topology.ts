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

/** Where messages wait while the work queue is re-declared with other arguments. */
export const migrationQueueName = (queue: string) => `${queue}.migrating`;

/**
 * Declares the dead-letter and work queues on channels of their own. RabbitMQ refuses to change the
 * arguments of an existing queue, so a work queue left by an older Taskcast (or declared with another
 * TASK_QUEUE_TYPE) is migrated: its messages move to `TASK_QUEUE.migrating`, it is deleted and declared
 * again, and they move back, each move confirmed before the original is acknowledged. A migration cut
 * short is finished by the next start. A queue that still has consumers (old workers) is left alone,
 * with an error that says to stop them.
 */
export async function assertTopology(model: ChannelModel, t: Topology, log: Logger): Promise<void> {
  await withChannel(model, (ch) => ch.assertQueue(t.dead, { durable: true, arguments: t.type === "quorum" ? { "x-queue-type": "quorum" } : {} }));
  const declared = await withChannel(model, (ch) => ch.assertQueue(t.queue, { durable: true, arguments: workQueueArguments(t) })).then(
    () => true,
    (err: { code?: number }) => {
      if (err.code !== 406) throw err;
      return false;
    },
  );
  const temp = migrationQueueName(t.queue);
  if (declared) {
    // Finish a migration that an earlier process began.
    const left = await withChannel(model, (ch) => ch.checkQueue(temp)).catch(() => undefined);
    if (left) {
      const moved = await moveAll(model, temp, t.queue);
      await withChannel(model, (ch) => ch.deleteQueue(temp, { ifEmpty: true }));
      log.warn({ queue: t.queue, moved }, "finished moving tasks back into the re-declared task queue");
    }
    return;
  }
  const existing = await withChannel(model, (ch) => ch.checkQueue(t.queue));
  if (existing.consumerCount > 0) {
    throw new Error(
      `RabbitMQ queue "${t.queue}" exists with other arguments (made by an older Taskcast or with another TASK_QUEUE_TYPE) and ` +
        `${existing.consumerCount} consumers are still attached. Stop the old workers; Taskcast then moves its ${existing.messageCount} messages ` +
        `into a queue with the current arguments by itself. Or set TASK_QUEUE to a new name.`,
    );
  }
  await withChannel(model, (ch) => ch.assertQueue(temp, { durable: true }));
  let moved = 0;
  for (;;) {
    moved += await moveAll(model, t.queue, temp);
    // ifEmpty: a message published meanwhile by an old publisher is moved on the next round.
    const deleted = await withChannel(model, (ch) => ch.deleteQueue(t.queue, { ifEmpty: true })).then(
      () => true,
      () => false,
    );
    if (deleted) break;
  }
  await withChannel(model, (ch) => ch.assertQueue(t.queue, { durable: true, arguments: workQueueArguments(t) }));
  await moveAll(model, temp, t.queue);
  await withChannel(model, (ch) => ch.deleteQueue(temp, { ifEmpty: true }));
  log.warn({ queue: t.queue, moved, arguments: workQueueArguments(t) }, "migrated the task queue to Taskcast's current arguments");
}

/** Moves every message from one queue to another; each is acknowledged only after its copy is confirmed. */
async function moveAll(model: ChannelModel, from: string, to: string): Promise<number> {
  const channel = await model.createConfirmChannel();
  channel.on("error", () => undefined);
  let moved = 0;
  try {
    for (;;) {
      const message = await channel.get(from, { noAck: false });
      if (message === false) return moved;
      const { headers, ...properties } = message.properties;
      const kept = Object.fromEntries(Object.entries(properties).filter(([, v]) => v !== undefined && v !== null));
      channel.sendToQueue(to, message.content, { ...kept, headers, persistent: true });
      await channel.waitForConfirms();
      channel.ack(message);
      moved++;
    }
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** Runs one step on a fresh channel: a failed declaration closes its channel, so none is shared. */
async function withChannel<T>(model: ChannelModel, step: (channel: Channel) => Promise<T>): Promise<T> {
  const channel = await model.createChannel();
  channel.on("error", () => undefined);
  try {
    return await step(channel);
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
