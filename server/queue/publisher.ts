// Publishes task messages to the durable task queue and waits for RabbitMQ's confirm.
import type { ChannelModel, ConfirmChannel } from "amqplib";
import type { TaskMessage } from "../../lib/contract";
import { unavailable, messageOf } from "../errors";
import type { Logger } from "../logger";
import { ChannelSlot, type AmqpConnection } from "./amqp";
import { assertTaskQueue } from "./topology";

const CONFIRM_TIMEOUT_MS = 5000;

export class TaskPublisher {
  private readonly slot: ChannelSlot<ConfirmChannel>;

  constructor(
    amqp: () => AmqpConnection,
    private readonly queue: string,
    log: Logger,
  ) {
    this.slot = new ChannelSlot(
      amqp,
      async (model) => {
        const ch = await model.createConfirmChannel();
        await assertTaskQueue(ch, queue);
        return ch;
      },
      log,
    );
  }

  /** For the connection's setup hook: opens the channel and declares the queue. */
  async setup(model: ChannelModel): Promise<void> {
    await this.slot.get(model);
  }

  /** Resolves once the broker has confirmed the persistent message; rejects with a 503 error otherwise. */
  async publish(message: TaskMessage & { id: string }): Promise<void> {
    const channel = await this.slot.get();
    const body = Buffer.from(JSON.stringify(message));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(unavailable("RabbitMQ did not confirm the task in time; it was not accepted. Try again.")),
        CONFIRM_TIMEOUT_MS,
      );
      try {
        channel.publish(
          "",
          this.queue,
          body,
          { persistent: true, contentType: "application/json", messageId: message.id, type: message.type, timestamp: Math.floor(Date.now() / 1000) },
          (err) => {
            clearTimeout(timer);
            if (err) reject(unavailable(`RabbitMQ refused the task (${messageOf(err)}); it was not accepted. Try again.`));
            else resolve();
          },
        );
      } catch (err) {
        clearTimeout(timer);
        reject(unavailable(`RabbitMQ channel is not usable (${messageOf(err)}); try again.`));
      }
    });
  }
}
