// Publishes persistent messages on a confirm channel and waits for RabbitMQ's confirm.
import type { ChannelModel, ConfirmChannel, Message, Options } from "amqplib";
import type { TaskMessage } from "../../lib/contract";
import { withDeadline } from "../deadline";
import { AppError, unavailable } from "../errors";
import type { Logger } from "../logger";
import { ChannelSlot, type AmqpConnection } from "./amqp";
import { Slots } from "./slots";
import { RECORDED_HEADER, RUN_HEADER } from "./task-message";
import { assertRetryQueue, retryQueueName, type Topology } from "./topology";

/** Where the outcome of a task submitted over AMQP goes: its message's reply_to and correlation_id, kept by a scheduled task. */
export interface ReplyProperties {
  replyTo?: string;
  correlationId?: string;
}

/** How long a publish waits for RabbitMQ's confirm before it answers 503. */
export const CONFIRM_TIMEOUT_MS = 5000;

/**
 * The headers of a run-1 message, one frozen object for all: amqplib makes the headers it is given the prototype
 * of each message's own, and a new object each time costs V8 a prototype set-up per message (5.3 against 2.2 µs
 * for amqplib's arguments and properties of a message, measured on this machine).
 */
const RUN_ONE_HEADERS = Object.freeze({ [RECORDED_HEADER]: 1 });

/** No confirm within CONFIRM_TIMEOUT_MS: RabbitMQ may still queue the message later. */
export class ConfirmTimeout extends AppError {
  constructor(message = "RabbitMQ did not confirm the message in time; it was not accepted. Try again.") {
    super(503, "unavailable", message);
  }
}

/**
 * The channel closed while the message waited for its confirm (RabbitMQ stopping, the connection cut): RabbitMQ may
 * have queued it or not, and will never say. amqplib answers such messages with "channel closed".
 */
export class ConfirmLost extends AppError {
  constructor(cause: unknown) {
    super(503, "unavailable", "RabbitMQ's channel closed before it confirmed the message, so it may have been queued or not. Look it up before sending it again.", { cause });
  }
}

/**
 * Messages a publisher has awaiting RabbitMQ's confirm at most; the next wait for a confirm to come back. Beyond
 * a few hundred, RabbitMQ's internal flow control throttles the channel and every message costs it more: 20,000
 * persistent messages to a priority queue cost it 0.049–0.052 ms each with 500 awaiting confirms at most,
 * 0.072–0.094 with 1,000, and 0.109–0.117 with 2,000 or 4,000 (RabbitMQ 3.10, alternated runs).
 */
export const MAX_UNCONFIRMED = 500;

export class ConfirmPublisher {
  private readonly slot: ChannelSlot<ConfirmChannel>;
  private readonly unconfirmed = new Slots(MAX_UNCONFIRMED);
  /**
   * Mandatory publishes awaiting their confirm, by queue and message id: RabbitMQ returns a message it could not
   * route (the queue is gone) before it confirms it, so the confirm callback can tell.
   */
  private readonly routing = new Map<string, { returned: boolean }>();

  constructor(
    amqp: () => AmqpConnection,
    private readonly topology: Topology,
    log: Logger,
  ) {
    this.slot = new ChannelSlot(
      amqp,
      async (model) => {
        const channel = await model.createConfirmChannel();
        channel.on("return", (m: Message) => {
          const entry = this.routing.get(routingKey(m.fields.routingKey, m.properties.messageId));
          if (entry) entry.returned = true;
        });
        return channel;
      },
      log,
    );
  }

  /** For the connection's setup hook (after the topology is declared): opens the channel. */
  async setup(model: ChannelModel): Promise<void> {
    await this.slot.get(model);
  }

  /**
   * Publishes a new task to `queue` (by default the work queue; an outside worker's for its types); resolves once
   * RabbitMQ has confirmed it, else rejects with a 503 error.
   */
  async publishTask(message: TaskMessage & { id: string }, priority: number, run = 1, queue = this.topology.queue, reply?: ReplyProperties): Promise<void> {
    await withConfirmTimeout(this.sendTask(message, priority, run, queue, reply));
  }

  /**
   * Publishes a new task; resolves with RabbitMQ's confirm however long it takes, rejects (503) when RabbitMQ
   * refuses the message or its channel closes first. For callers that answer in time but keep tracking the task.
   */
  async sendTask(message: TaskMessage & { id: string }, priority: number, run = 1, queue = this.topology.queue, reply?: ReplyProperties): Promise<void> {
    // An outside worker's queue is someone else's to delete: a message it cannot route must fail, not vanish.
    await this.confirm(queue, Buffer.from(JSON.stringify(message)), {
      ...reply,
      contentType: "application/json",
      messageId: message.id,
      type: message.type,
      priority,
      timestamp: Math.floor(Date.now() / 1000),
      // Run 1 needs no run header: a message without one is run 1, as other services publish it.
      headers: run > 1 ? { [RUN_HEADER]: run, [RECORDED_HEADER]: 1 } : RUN_ONE_HEADERS,
      mandatory: queue !== this.topology.queue,
    });
  }

  /**
   * Parks a message in a retry queue for `delayMs`; RabbitMQ moves it to `queue` afterwards (an outside worker's
   * queue, or by default the work queue).
   */
  async publishRetry(content: Buffer, properties: Options.Publish, delayMs: number, queue = this.topology.queue): Promise<void> {
    // Declared before every use: a retry queue deletes itself a minute after it was last declared
    // (x-expires; publishing does not count as use), and a message sent to a deleted queue is dropped.
    await assertRetryQueue(await this.slot.get(), this.topology, delayMs, queue);
    await this.send(retryQueueName(queue, delayMs), content, properties);
  }

  /** Moves a task's message as it is to another work queue (an outside worker's, for its type). */
  async forward(queue: string, content: Buffer, properties: Options.Publish): Promise<void> {
    await this.send(queue, content, { ...properties, mandatory: true });
  }

  /** Puts a message in the dead-letter queue. */
  async publishDead(content: Buffer, properties: Options.Publish): Promise<void> {
    await this.send(this.topology.dead, content, properties);
  }

  private send(queue: string, content: Buffer, properties: Options.Publish): Promise<void> {
    return withConfirmTimeout(this.confirm(queue, content, properties));
  }

  /** Publishes persistently; settles with RabbitMQ's confirm (or refusal), however long it takes. */
  private async confirm(queue: string, content: Buffer, properties: Options.Publish): Promise<void> {
    await this.unconfirmed.acquire();
    const key = properties.mandatory ? routingKey(queue, properties.messageId) : undefined;
    const route = { returned: false };
    if (key !== undefined) this.routing.set(key, route);
    try {
      const channel = await this.slot.get();
      await new Promise<void>((resolve, reject) => {
        try {
          channel.sendToQueue(queue, content, { ...properties, persistent: true }, (err) => {
            if (!err && route.returned) return reject(unavailable(`RabbitMQ has no queue "${queue}" (deleted?), so the message was not accepted; its worker's next announcement declares it again. Try again shortly.`));
            if (!err) return resolve();
            this.slot.refused(channel);
            if (err instanceof Error && err.message === "channel closed") return reject(new ConfirmLost(err));
            reject(unavailable("RabbitMQ refused the message; it was not accepted. Try again.", err));
          });
        } catch (err) {
          reject(unavailable("RabbitMQ is not usable right now; the message was not accepted. Try again.", err));
        }
      });
    } finally {
      if (key !== undefined && this.routing.get(key) === route) this.routing.delete(key);
      this.unconfirmed.release();
    }
  }
}

const routingKey = (queue: string, messageId: unknown) => `${queue}\u0000${String(messageId)}`;

/** `confirmed`, or a ConfirmTimeout once CONFIRM_TIMEOUT_MS pass without it (the confirm itself may still come). */
export const withConfirmTimeout = (confirmed: Promise<void>, timeout: () => AppError = () => new ConfirmTimeout()): Promise<void> => withDeadline(confirmed, CONFIRM_TIMEOUT_MS, timeout);
