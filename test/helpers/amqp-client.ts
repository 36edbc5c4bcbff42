// A service talking to a test stack over AMQP, as a PHP service with php-amqplib would: persistent messages on
// the default exchange to TASK_QUEUE, confirmed, and an exclusive queue for the replies.
import { connect, type ConfirmChannel, type ConsumeMessage } from "amqplib";
import { eventually, type Stack } from "./stack";

export interface AmqpClient {
  channel: ConfirmChannel;
  /** The exclusive queue replies come to (give it as `replyTo`). */
  replyQueue: string;
  /** Publishes a body (JSON for an object) to TASK_QUEUE and waits for RabbitMQ's confirm. */
  publish(body: string | object, properties?: Record<string, unknown>): Promise<void>;
  /** The reply with this correlation id, once it arrives. */
  reply(correlationId: string): Promise<ConsumeMessage>;
  close(): Promise<void>;
}

export async function openAmqpClient(stack: Stack): Promise<AmqpClient> {
  const conn = await connect(stack.config.RABBITMQ_URL);
  const channel = await conn.createConfirmChannel();
  const replies = new Map<string, ConsumeMessage>();
  const replyQueue = (await channel.assertQueue("", { exclusive: true })).queue;
  await channel.consume(replyQueue, (msg) => msg && replies.set(String(msg.properties.correlationId), msg), { noAck: true });
  return {
    channel,
    replyQueue,
    async publish(body, properties = {}) {
      channel.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(typeof body === "string" ? body : JSON.stringify(body)), { persistent: true, ...properties });
      await channel.waitForConfirms();
    },
    reply: (correlationId) => eventually(async () => replies.get(correlationId), `the reply for ${correlationId}`),
    close: () => conn.close(),
  };
}
