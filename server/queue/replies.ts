// Replies to a task's submitter: the final record, sent to the AMQP reply_to queue with its correlation_id,
// on a confirm channel, so the sender knows RabbitMQ took it.
import type { ConfirmChannel } from "amqplib";
import type { TaskRecord } from "../../lib/contract";
import { runOf } from "../../lib/task-lifecycle";
import { unavailable, messageOf } from "../errors";
import type { Logger } from "../logger";
import { ChannelSlot, type AmqpConnection } from "./amqp";
import { withConfirmTimeout } from "./publisher";

/**
 * A reply's message_id: its task and run (`<id>:<run>`). One reply per run is the rule; should a reply be sent
 * twice (its worker died between RabbitMQ's confirm and recording it), the repeat has the same message_id.
 */
const replyMessageId = (record: TaskRecord) => `${record.id}:${runOf(record)}`;

export class ReplySender {
  /** One reply channel per connection, re-opened when it closes. */
  private readonly slot: ChannelSlot<ConfirmChannel>;

  constructor(amqp: () => AmqpConnection, log: Logger) {
    this.slot = new ChannelSlot(amqp, (model) => model.createConfirmChannel(), log);
  }

  /** Sends the record; resolves once RabbitMQ confirmed it, rejects (503) when it refused or did not answer in time. */
  async send(replyTo: string, correlationId: string | undefined, record: TaskRecord): Promise<void> {
    await this.sendJson(replyTo, correlationId, replyMessageId(record), record);
  }

  /** Sends any JSON body to a reply_to queue (a worker protocol verdict); resolves once RabbitMQ confirmed it. */
  async sendJson(replyTo: string, correlationId: string | undefined, messageId: string, body: unknown): Promise<void> {
    const channel = await this.slot.get();
    const confirmed = new Promise<void>((resolve, reject) => {
      try {
        channel.sendToQueue(replyTo, Buffer.from(JSON.stringify(body)), { correlationId, messageId, contentType: "application/json" }, (err) => {
          if (!err) return resolve();
          this.slot.refused(channel);
          reject(unavailable(`RabbitMQ refused the reply (${messageOf(err)})`));
        });
      } catch (err) {
        reject(unavailable(`RabbitMQ reply channel is not usable (${messageOf(err)})`));
      }
    });
    await withConfirmTimeout(confirmed);
  }
}
