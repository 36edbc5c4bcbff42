// Reads the queues' depth from RabbitMQ and the in-flight counts from worker heartbeats.
import type { Channel, ChannelModel } from "amqplib";
import type { QueueDepth, QueueList, QueueStats } from "../../lib/contract";
import { AppError, messageOf, unavailable } from "../errors";
import type { Logger } from "../logger";
import { ChannelSlot, type AmqpConnection } from "./amqp";
import type { Topology } from "./topology";

/** RabbitMQ's answer to a passive declare of a queue it does not have (it closes the channel too). */
const NOT_FOUND = 404;

export interface QueueStatsSources {
  /** Deliveries the live workers hold (their heartbeats and announcements say), by the queue they consume. */
  inflightByQueue: () => Promise<Map<string, number>>;
  /** Every queue to list: TASK_QUEUE first, then the outside workers' queues. */
  knownQueues: () => Promise<string[]>;
  /** Whether each of these queues is paused, in their order. */
  pausedOf: (queues: readonly string[]) => Promise<boolean[]>;
}

export class QueueStatsReader {
  private readonly slot: ChannelSlot<Channel>;
  /** Checks of the outside queues, one at a time: a missing queue closes the channel it was asked on. */
  private probe?: { model: ChannelModel; channel: Promise<Channel>; opened?: Channel };
  private probing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly amqp: () => AmqpConnection,
    private readonly topology: Topology,
    private readonly sources: QueueStatsSources,
    private readonly log: Logger,
  ) {
    this.slot = new ChannelSlot(amqp, (model) => model.createChannel(), log);
  }

  async setup(model: ChannelModel): Promise<void> {
    await this.slot.get(model);
  }

  /**
   * TASK_QUEUE (`GET /api/queue`). `ready` and `consumers` come from the broker. AMQP has no way to ask for
   * unacknowledged messages, so `unacked` is the sum of the deliveries that live Taskcast workers hold.
   */
  async read(): Promise<QueueStats> {
    return guarded(async () => {
      const [held, [paused]] = await Promise.all([this.sources.inflightByQueue(), this.sources.pausedOf([this.topology.queue])]);
      return this.readMain(held, paused);
    });
  }

  private async readMain(held: Map<string, number>, paused: boolean): Promise<QueueStats> {
    const channel = await this.slot.get();
    const [queue, dead] = await Promise.all([channel.checkQueue(this.topology.queue), channel.checkQueue(this.topology.dead)]);
    return { queue: this.topology.queue, ready: queue.messageCount, unacked: held.get(this.topology.queue) ?? 0, consumers: queue.consumerCount, dead: dead.messageCount, paused };
  }

  /**
   * Every known queue (`GET /api/queues`), TASK_QUEUE first with exactly what `read` says. A queue RabbitMQ does not
   * have (yet) is listed with zeros and `exists: false`; every queue's dead letters are counted on TASK_QUEUE's entry.
   */
  async readAll(): Promise<QueueList> {
    return guarded(async () => {
      const [known, held] = await Promise.all([this.sources.knownQueues(), this.sources.inflightByQueue()]);
      const others = [...new Set(known)].filter((q) => q !== this.topology.queue);
      const [mainPaused, ...othersPaused] = await this.sources.pausedOf([this.topology.queue, ...others]);
      const main = await this.readMain(held, mainPaused);
      const depths = await this.checkOutside(others);
      const deadLetterQueue = this.topology.dead;
      const queues: QueueDepth[] = [
        { ...main, exists: true, deadLetterQueue },
        ...others.map((queue, i) => {
          const depth = depths[i];
          return { queue, ready: depth?.messageCount ?? 0, unacked: held.get(queue) ?? 0, consumers: depth?.consumerCount ?? 0, dead: 0, paused: othersPaused[i], exists: depth !== undefined, deadLetterQueue };
        }),
      ];
      return { queues };
    });
  }

  /** Each queue's depth, or undefined for a queue RabbitMQ does not have; one check at a time, on a channel of their own. */
  private checkOutside(queues: string[]): Promise<Array<{ messageCount: number; consumerCount: number } | undefined>> {
    if (queues.length === 0) return Promise.resolve([]);
    const run = this.probing.then(async () => {
      const out: Array<{ messageCount: number; consumerCount: number } | undefined> = [];
      for (const queue of queues) {
        const channel = await this.probeChannel();
        try {
          out.push(await channel.checkQueue(queue));
        } catch (err) {
          if ((err as { code?: unknown }).code !== NOT_FOUND) throw err;
          // RabbitMQ closed the channel: the next check opens another.
          this.forgetProbe(channel);
          out.push(undefined);
        }
      }
      return out;
    });
    this.probing = run.catch(() => undefined);
    return run;
  }

  private probeChannel(): Promise<Channel> {
    const model = this.amqp().current();
    if (this.probe?.model === model) return this.probe.channel;
    const channel = model.createChannel().then((ch) => {
      // A missing queue's check closes the channel with an error: expected, not worth more than a debug line.
      ch.on("error", (err: Error) => this.log.debug({ err: messageOf(err) }, "queue check closed its channel"));
      ch.on("close", () => this.forgetProbe(ch));
      if (this.probe?.channel === channel) this.probe.opened = ch;
      return ch;
    });
    channel.catch(() => {
      if (this.probe?.channel === channel) this.probe = undefined;
    });
    this.probe = { model, channel };
    return channel;
  }

  private forgetProbe(ch: Channel): void {
    if (this.probe?.opened === ch) this.probe = undefined;
  }
}

async function guarded<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw unavailable("Could not read the queue from RabbitMQ or Redis; try again shortly.", err);
  }
}
