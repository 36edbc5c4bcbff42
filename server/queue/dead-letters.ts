// Takes messages out of the dead-letter queue, by task id, for an operator's retry or discard (one, or many in one scan).
import type { ChannelModel, ConfirmChannel, GetMessage } from "amqplib";
import { unavailable } from "../errors";
import type { Logger } from "../logger";
import { carriedProperties, RUN_HEADER } from "./task-message";
import type { Topology } from "./topology";

/** Most messages looked at in one search; beyond that the message is left where it is. */
const MAX_SCAN = 20_000;

const noQueue = (queue: string) => unavailable(`RabbitMQ has no queue "${queue}" (deleted?), so the task stays in the dead-letter queue; its worker's next announcement declares the queue again. Try again shortly.`);

export class DeadLetterQueue {
  /** One search at a time per node, so two searches do not hide messages from each other. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly topology: Topology,
    private readonly log: Logger,
  ) {}

  /**
   * Finds the message of task `id` and hands it to `handle` on a confirm channel (to publish a copy
   * elsewhere); once `handle` resolves the message is removed, and with `allCopies` every further copy of
   * it too (a worker that died between publishing a dead-letter copy and recording it publishes a second
   * one on redelivery). Every other message goes back in order. Resolves false if the message is not there.
   */
  withdraw(model: ChannelModel, id: string, handle: (message: GetMessage, channel: ConfirmChannel) => Promise<void>, allCopies = true): Promise<boolean> {
    const run = this.queue.then(() => this.search(model, id, handle, allCopies));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Moves task `id`'s dead letter back to `queue` (by default the work queue) with a new body (the task as it runs now), the
   * given priority and run, keeping its reply_to and the publisher's headers; resolves once RabbitMQ confirmed the
   * copy and the dead letter is gone. Resolves false if the message is not in the queue.
   */
  requeue(model: ChannelModel, id: string, body: Buffer, priority: number, run: number, queue = this.topology.queue): Promise<boolean> {
    return this.withdraw(model, id, (message, channel) => this.publishCopy(channel, id, message, body, priority, run, queue));
  }

  /** Removes task `id`'s dead letter (every copy, or with `oneCopy` just one); false if it is not in the queue. */
  remove(model: ChannelModel, id: string, options: { oneCopy?: boolean } = {}): Promise<boolean> {
    return this.withdraw(model, id, async () => undefined, !options.oneCopy);
  }

  /**
   * The batch form of `withdraw`, in ONE scan of the queue: every message whose task id is in `ids` is handed to
   * `handle` (the first copy), which starts its work and returns a promise of it without holding up the scan. Once
   * the scan is over and every such promise settled, each message whose promise resolved is removed with every
   * further copy of it; one whose promise rejected stays in the queue, its id in `failed`. Resolves with the ids
   * found (handled) and failed.
   */
  withdrawMany(model: ChannelModel, ids: ReadonlySet<string>, handle: (id: string, message: GetMessage, channel: ConfirmChannel, returned: ReadonlySet<string>) => Promise<void>): Promise<{ found: Set<string>; failed: Map<string, unknown> }> {
    const run = this.queue.then(() => this.searchMany(model, ids, handle));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Moves each task's dead letter back to its queue as `requeue` does, in one scan; `messages` gives each one's new
   * body, priority, run and queue. The copies are confirmed by RabbitMQ together, each by its own callback, so a
   * batch costs one scan and no round trip per task.
   */
  requeueMany(model: ChannelModel, messages: ReadonlyMap<string, { body: Buffer; priority: number; run: number; queue: string }>): Promise<{ found: Set<string>; failed: Map<string, unknown> }> {
    return this.withdrawMany(model, new Set(messages.keys()), (id, message, channel, returned) => {
      const m = messages.get(id)!;
      const properties = carriedProperties(message.properties, id, { queue: "work" });
      properties.headers = { ...properties.headers, [RUN_HEADER]: m.run };
      return new Promise<void>((resolve, reject) => {
        // Mandatory: a copy RabbitMQ could not route comes back (before its confirm), and its dead letter stays.
        channel.sendToQueue(m.queue, m.body, { ...properties, persistent: true, priority: m.priority, mandatory: true }, (err) => {
          if (err) reject(err instanceof Error ? err : new Error(String(err)));
          else if (returned.has(id)) reject(noQueue(m.queue));
          else resolve();
        });
      });
    });
  }

  /** Removes each task's dead letter (every copy) in one scan. */
  removeMany(model: ChannelModel, ids: ReadonlySet<string>): Promise<{ found: Set<string>; failed: Map<string, unknown> }> {
    return this.withdrawMany(model, ids, async () => undefined);
  }

  private async publishCopy(channel: ConfirmChannel, id: string, message: GetMessage, body: Buffer, priority: number, run: number, queue: string): Promise<void> {
    const properties = carriedProperties(message.properties, id, { queue: "work" });
    properties.headers = { ...properties.headers, [RUN_HEADER]: run };
    // Mandatory: a queue that is gone (an outside worker's) returns the copy, and the dead letter stays.
    let returned = false;
    const onReturn = () => (returned = true);
    channel.on("return", onReturn);
    try {
      channel.sendToQueue(queue, body, { ...properties, persistent: true, priority, mandatory: true });
      await channel.waitForConfirms();
    } finally {
      channel.off("return", onReturn);
    }
    if (returned) throw noQueue(queue);
  }

  private async searchMany(model: ChannelModel, ids: ReadonlySet<string>, handle: (id: string, message: GetMessage, channel: ConfirmChannel, returned: ReadonlySet<string>) => Promise<void>) {
    const failed = new Map<string, unknown>();
    const channel = await model.createConfirmChannel();
    channel.on("error", (err: Error) => this.log.warn({ err: err.message }, "dead-letter channel error"));
    const returned = new Set<string>();
    channel.on("return", (m: GetMessage) => returned.add(String(m.properties.messageId)));
    // Per task id: its handling, and every copy of its message met in the scan (acked once the handling succeeded).
    const matched = new Map<string, { work: Promise<void>; copies: GetMessage[] }>();
    try {
      let seen = 0;
      for (; seen < MAX_SCAN; seen++) {
        const message = await channel.get(this.topology.dead, { noAck: false });
        if (message === false) break;
        const id = message.properties.messageId as string | undefined;
        if (id === undefined || !ids.has(id)) continue;
        const known = matched.get(id);
        if (known) known.copies.push(message);
        else {
          const work = handle(id, message, channel, returned);
          // Settled later, all together: never an unhandled rejection meanwhile.
          work.catch(() => undefined);
          matched.set(id, { work, copies: [message] });
        }
      }
      if (seen >= MAX_SCAN) this.log.warn({ scanned: MAX_SCAN, notFound: ids.size - matched.size }, "dead-letter batch search stopped at the scan limit; messages not reached stay in the queue");
      const found = new Set<string>();
      for (const [id, { work, copies }] of matched) {
        try {
          await work;
        } catch (err) {
          // Left unacked: closing the channel puts it back.
          failed.set(id, err);
          continue;
        }
        for (const copy of copies) channel.ack(copy);
        found.add(id);
      }
      return { found, failed };
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  private async search(model: ChannelModel, id: string, handle: (message: GetMessage, channel: ConfirmChannel) => Promise<void>, allCopies: boolean): Promise<boolean> {
    const channel = await model.createConfirmChannel();
    channel.on("error", (err: Error) => this.log.warn({ err: err.message }, "dead-letter channel error"));
    let found = false;
    try {
      for (let seen = 0; seen < MAX_SCAN; seen++) {
        const message = await channel.get(this.topology.dead, { noAck: false });
        if (message === false) return found;
        if (message.properties.messageId !== id) continue;
        if (!found) await handle(message, channel);
        channel.ack(message);
        found = true;
        if (!allCopies) return true;
      }
      if (!found) this.log.warn({ taskId: id, scanned: MAX_SCAN }, "dead-letter message not found within the scan limit; left in the queue");
      return found;
    } finally {
      // Closing the channel returns every message it still holds to the queue, in their original order.
      await channel.close().catch(() => undefined);
    }
  }
}
