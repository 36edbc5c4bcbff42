// Declares the task queue: durable, so tasks survive a broker restart.
import type { Channel } from "amqplib";

export async function assertTaskQueue(channel: Channel, queue: string): Promise<void> {
  await channel.assertQueue(queue, { durable: true });
}
