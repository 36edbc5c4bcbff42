// The task queue's RabbitMQ topology: the work queue, its dead-letter queue, TTL retry queues, and the queue
// outside workers publish their events to (worker protocol).
import type { Channel, ChannelModel } from "amqplib";
import { MAX_PRIORITY } from "../../lib/contract";
import { eventsQueueName } from "../../lib/worker-protocol";
import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "../logger";

export interface Topology {
  /** The work queue (TASK_QUEUE). */
  queue: string;
  /** Where dead tasks end, with their reason: TASK_QUEUE + ".dead". */
  dead: string;
  /** Where outside workers publish announcements and task reports: TASK_QUEUE + ".events". */
  events: string;
  type: "classic" | "quorum";
  /** Quorum queues: deliveries after which RabbitMQ dead-letters a message by itself. */
  deliveryLimit: number;
  /** Classic queues: x-max-priority (0: no priorities). */
  maxPriority: number;
}

export function topologyFor(config: { TASK_QUEUE: string; TASK_QUEUE_TYPE: "classic" | "quorum"; TASK_DELIVERY_LIMIT: number; TASK_MAX_PRIORITY?: number }): Topology {
  return { queue: config.TASK_QUEUE, dead: deadQueueName(config.TASK_QUEUE), events: eventsQueueName(config.TASK_QUEUE), type: config.TASK_QUEUE_TYPE, deliveryLimit: config.TASK_DELIVERY_LIMIT, maxPriority: config.TASK_MAX_PRIORITY ?? MAX_PRIORITY };
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
    : { ...(t.maxPriority > 0 ? { "x-max-priority": t.maxPriority } : {}), ...deadLettering };
}

/** The dead-letter queue's arguments: quorum when the work queue is. */
export function deadQueueArguments(t: Topology): Record<string, unknown> {
  return t.type === "quorum" ? { "x-queue-type": "quorum" } : {};
}

/**
 * The events queue's arguments: quorum when the work queue is. Every web node consumes it at once; applying an
 * event is a compare-and-set that is safe in any order. (Not a single active consumer: RabbitMQ cannot basic.get
 * from a quorum queue with one, so a queue type change could not move its messages.)
 */
export function eventsQueueArguments(t: Topology): Record<string, unknown> {
  return deadQueueArguments(t);
}

/** Where messages wait while a queue is re-declared with other arguments. */
export const migrationQueueName = (queue: string) => `${queue}.migrating`;
/** An exclusive queue held by the one process that migrates `queue`. */
const migrationLockName = (queue: string) => `${queue}.migration-lock`;

/** How long a process waits for another one's migration of the same queue. */
const MIGRATION_LOCK_WAIT_MS = 120_000;
const MIGRATION_LOCK_POLL_MS = 200;

/**
 * Declares the dead-letter and work queues. RabbitMQ refuses to change the arguments of an existing queue, so
 * a queue left by an older Taskcast (or declared with another TASK_QUEUE_TYPE) is migrated: its messages move
 * to `<queue>.migrating`, it is deleted and declared again, and they move back, each move confirmed (and
 * published mandatory, so a message with nowhere to go comes back) before the original is acknowledged. One
 * process migrates a queue at a time (it holds an exclusive lock queue; the others wait, then find the work
 * done). A migration cut short is finished by the next start. A queue that still has consumers (old workers)
 * is left alone, with an error that says to stop them.
 */
export async function assertTopology(model: ChannelModel, t: Topology, log: Logger): Promise<void> {
  await declareOrMigrate(model, t.dead, deadQueueArguments(t), log);
  await declareOrMigrate(model, t.queue, workQueueArguments(t), log);
  await declareOrMigrate(model, t.events, eventsQueueArguments(t), log);
}

/**
 * Declares an outside worker's queue (worker protocol) as the work queue is declared: durable, the same queue type
 * and priorities, dead-lettering to the dead-letter queue; an existing queue with other arguments is migrated.
 */
export async function assertWorkQueue(model: ChannelModel, t: Topology, queue: string, log: Logger): Promise<void> {
  await declareOrMigrate(model, queue, workQueueArguments(t), log);
}

async function declareOrMigrate(model: ChannelModel, queue: string, args: Record<string, unknown>, log: Logger): Promise<void> {
  const temp = migrationQueueName(queue);
  if ((await declare(model, queue, args)) && !(await exists(model, temp))) return;
  await withMigrationLock(model, queue, async () => {
    if (await declare(model, queue, args)) {
      // Finish a migration that an earlier process began (or that another one finished just now).
      if (!(await exists(model, temp))) return;
      const moved = await moveAll(model, temp, queue);
      await withChannel(model, (ch) => ch.deleteQueue(temp, { ifEmpty: true }));
      log.warn({ queue, moved }, "finished moving messages back into the re-declared queue");
      return;
    }
    const existing = await withChannel(model, (ch) => ch.checkQueue(queue));
    if (existing.consumerCount > 0) {
      throw new Error(
        `RabbitMQ queue "${queue}" exists with other arguments (made by an older Taskcast or with another TASK_QUEUE_TYPE) and ` +
          `${existing.consumerCount} consumers are still attached. Stop the old workers; Taskcast then moves its ${existing.messageCount} messages ` +
          `into a queue with the current arguments by itself. Or set TASK_QUEUE to a new name.`,
      );
    }
    await withChannel(model, (ch) => ch.assertQueue(temp, { durable: true }));
    let moved = 0;
    for (;;) {
      moved += await moveAll(model, queue, temp);
      if (await deleteIfEmpty(model, queue, args["x-queue-type"] !== "quorum")) break;
    }
    await withChannel(model, (ch) => ch.assertQueue(queue, { durable: true, arguments: args }));
    await moveAll(model, temp, queue);
    await withChannel(model, (ch) => ch.deleteQueue(temp, { ifEmpty: true }));
    log.warn({ queue, moved, arguments: args }, "migrated the queue to Taskcast's current arguments");
  });
}

/**
 * Deletes an emptied queue; false if a message arrived meanwhile (an old publisher), to be moved next round.
 * RabbitMQ cannot delete a quorum queue "if empty" (and closes the connection for asking), so when the old
 * queue may be a quorum queue its depth is checked first instead.
 */
async function deleteIfEmpty(model: ChannelModel, queue: string, mayBeQuorum: boolean): Promise<boolean> {
  if (!mayBeQuorum) {
    return withChannel(model, (ch) => ch.deleteQueue(queue, { ifEmpty: true })).then(
      () => true,
      () => false,
    );
  }
  const { messageCount } = await withChannel(model, (ch) => ch.checkQueue(queue));
  if (messageCount > 0) return false;
  await withChannel(model, (ch) => ch.deleteQueue(queue));
  return true;
}

/** Declares the queue; false if it exists with other arguments. */
async function declare(model: ChannelModel, queue: string, args: Record<string, unknown>): Promise<boolean> {
  return withChannel(model, (ch) => ch.assertQueue(queue, { durable: true, arguments: args })).then(
    () => true,
    (err: { code?: number }) => {
      if (err.code !== 406) throw err;
      return false;
    },
  );
}

const exists = (model: ChannelModel, queue: string) =>
  withChannel(model, (ch) => ch.checkQueue(queue)).then(
    () => true,
    () => false,
  );

/**
 * Runs `work` while this connection holds an exclusive queue named for `queue`: RabbitMQ lets one connection
 * declare it, and removes it when that connection closes, so a process that dies mid-migration frees it.
 */
async function withMigrationLock(model: ChannelModel, queue: string, work: () => Promise<void>): Promise<void> {
  const name = migrationLockName(queue);
  const deadline = Date.now() + MIGRATION_LOCK_WAIT_MS;
  for (;;) {
    const channel = await model.createChannel();
    channel.on("error", () => undefined);
    const held = await channel.assertQueue(name, { exclusive: true, durable: false, autoDelete: false }).then(
      () => true,
      (err: { code?: number }) => {
        if (err.code !== 405) throw err; // RESOURCE_LOCKED: another connection holds it
        return false;
      },
    );
    if (held) {
      try {
        return await work();
      } finally {
        await channel.deleteQueue(name).catch(() => undefined);
        await channel.close().catch(() => undefined);
      }
    }
    if (Date.now() > deadline) throw new Error(`Another process has been migrating RabbitMQ queue "${queue}" for ${MIGRATION_LOCK_WAIT_MS / 1000} s; if none is, delete the queue "${name}".`);
    await delay(MIGRATION_LOCK_POLL_MS);
  }
}

/**
 * Moves every message from one queue to another; each is acknowledged only after its copy is confirmed. Copies
 * are published mandatory: one that RabbitMQ cannot route (the target vanished) comes back, and the move stops
 * with the original still in place.
 */
async function moveAll(model: ChannelModel, from: string, to: string): Promise<number> {
  const channel = await model.createConfirmChannel();
  channel.on("error", () => undefined);
  let returned = false;
  channel.on("return", () => {
    returned = true;
  });
  let moved = 0;
  try {
    for (;;) {
      const message = await channel.get(from, { noAck: false });
      if (message === false) return moved;
      const { headers, ...properties } = message.properties;
      const kept = Object.fromEntries(Object.entries(properties).filter(([, v]) => v !== undefined && v !== null));
      channel.sendToQueue(to, message.content, { ...kept, headers, persistent: true, mandatory: true });
      await channel.waitForConfirms();
      if (returned) {
        channel.nack(message, false, true);
        throw new Error(`RabbitMQ could not route a message from "${from}" to "${to}" (the queue is gone); it stays in "${from}". Start again to finish.`);
      }
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

/**
 * Declares the retry queue for one delay (it deletes itself a minute after its last use) in front of `queue`
 * (an outside worker's queue, or by default the work queue).
 */
export async function assertRetryQueue(channel: Channel, t: Topology, delayMs: number, queue = t.queue): Promise<string> {
  const name = retryQueueName(queue, delayMs);
  await channel.assertQueue(name, {
    durable: true,
    arguments: { "x-message-ttl": delayMs, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue, "x-expires": delayMs + 60_000 },
  });
  return name;
}
