// Replies to a task's submitter: the final record, sent to the AMQP reply_to queue with its correlation_id.
import type { Channel } from "amqplib";
import type { TaskRecord } from "../../lib/contract";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import { ChannelSlot, type AmqpConnection } from "./amqp";

export class ReplySender {
  /** One reply channel per connection, re-opened when it closes. */
  private readonly slot: ChannelSlot<Channel>;

  constructor(
    amqp: () => AmqpConnection,
    private readonly log: Logger,
  ) {
    this.slot = new ChannelSlot(amqp, (model) => model.createChannel(), log);
  }

  /** Sends the record; a lost reply is logged, never fatal. */
  send(replyTo: string, correlationId: string | undefined, record: TaskRecord): void {
    this.slot
      .get()
      .then((channel) => channel.sendToQueue(replyTo, Buffer.from(JSON.stringify(record)), { correlationId, contentType: "application/json" }))
      .catch((err: unknown) => this.log.warn({ taskId: record.id, replyTo, err: messageOf(err) }, "could not send the reply"));
  }
}
