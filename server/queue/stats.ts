// Reads the task queue's depth from RabbitMQ and the in-flight count from worker heartbeats.
import type { Channel, ChannelModel } from "amqplib";
import type { QueueStats } from "../../lib/contract";
import { AppError, unavailable } from "../errors";
import type { Logger } from "../logger";
import { ChannelSlot, type AmqpConnection } from "./amqp";
import type { Topology } from "./topology";

export class QueueStatsReader {
  private readonly slot: ChannelSlot<Channel>;

  constructor(
    amqp: () => AmqpConnection,
    private readonly topology: Topology,
    /** Deliveries the live workers hold (their heartbeats say). */
    private readonly heldByWorkers: () => Promise<number>,
    log: Logger,
  ) {
    this.slot = new ChannelSlot(amqp, (model) => model.createChannel(), log);
  }

  async setup(model: ChannelModel): Promise<void> {
    await this.slot.get(model);
  }

  /**
   * `ready` and `consumers` come from the broker. AMQP has no way to ask for unacknowledged
   * messages, so `unacked` is the sum of the deliveries that live Taskcast workers hold.
   */
  async read(): Promise<QueueStats> {
    try {
      const channel = await this.slot.get();
      const [queue, dead, unacked] = await Promise.all([channel.checkQueue(this.topology.queue), channel.checkQueue(this.topology.dead), this.heldByWorkers()]);
      return { queue: this.topology.queue, ready: queue.messageCount, unacked, consumers: queue.consumerCount, dead: dead.messageCount };
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw unavailable("Could not read the queue from RabbitMQ or Redis; try again shortly.", err);
    }
  }
}
