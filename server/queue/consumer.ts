// Consumes the task queue with manual acks and a prefetch, handing each delivery to a handler.
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import { setTimeout as delay } from "node:timers/promises";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import { Acknowledger } from "./acknowledger";
import { PrefetchTuner } from "./prefetch-tuner";
import { Lease, Slots, type SlotLease } from "./slots";

/**
 * What the handler decides for a delivery: acknowledge it, requeue it after a pause (it cannot be
 * handled right now), or release it to the queue at once (this worker is stopping).
 */
export type Outcome = "ack" | "requeue" | "release";

/** How often the acks someone waits on (whenAckSettled) are checked settled: one request to RabbitMQ each time. */
const ACK_CHECKPOINT_MS = 1000;
/**
 * How often a prefetch left to Taskcast (WORKER_PREFETCH unset) is sized again to the tasks (prefetch-tuner.ts):
 * every second, or sooner (every QUICK_TUNE_MS) once QUICK_TUNE_RELEASES deliveries have left their slots, so a
 * burst of short tasks gets its prefetch within a quarter of a second.
 */
const TUNE_MS = 1000;
const QUICK_TUNE_MS = 250;
const QUICK_TUNE_RELEASES = 200;

export class TaskConsumer {
  private channel?: Channel;
  private consumerTag?: string;
  /** Starts consuming on the current channel (set by setup). */
  private consume?: () => Promise<string>;
  private stopped = false;
  /** An operator paused the queue: no consumer, and no delivery starts. */
  private paused = false;
  /** Pause and resume applied one after another. */
  private switching: Promise<void> = Promise.resolve();
  private readonly running = new Set<Promise<void>>();
  /**
   * Handlers running at once. The prefetch alone does not bound them: when a channel dies its handlers run on,
   * and the next channel gets a full prefetch of new deliveries. Those wait here for the old handlers' slots.
   */
  private readonly slots: Slots;
  /** Called once RabbitMQ has settled a delivery's ack (see whenAckSettled), by delivery until it is acked. */
  private readonly onAckSettled = new WeakMap<ConsumeMessage, () => void>();
  /** Acks sent whose settling someone waits for, with the channel they went on. */
  private acksToSettle: Array<{ channel: Channel; settled: () => void }> = [];
  private checkpointTimer: ReturnType<typeof setTimeout> | undefined;
  /** Deliveries held at most (RabbitMQ's prefetch for this consumer): fixed, or sized by `tuner`. */
  private prefetch: number;
  private readonly tuner: PrefetchTuner | undefined;
  private tuneTimer: ReturnType<typeof setInterval> | undefined;
  /** Deliveries settled (acknowledged or requeued) since start. */
  settled = 0;

  /** Deliveries received and not yet acknowledged (running, or waiting for a slot). */
  get inflight(): number {
    return this.running.size;
  }

  /** Deliveries being handled now (at most the concurrency). */
  get busy(): number {
    return this.slots.busy;
  }

  constructor(
    private readonly queue: string,
    /** Handlers run at once (WORKER_CONCURRENCY). */
    concurrency: number,
    /**
     * Deliveries held unacknowledged, running or waiting for a slot (at least `concurrency`); undefined: sized to
     * the tasks, from twice the concurrency to sixteen times it and at least 64 (see prefetch-tuner.ts).
     */
    prefetch: number | undefined,
    /** Runs a delivery holding `slot`; may give the slot back before it resolves (see SlotLease). */
    private readonly handle: (message: ConsumeMessage, slot: SlotLease) => Promise<Outcome>,
    /** Declares the queues; runs before consuming again after the broker cancelled the consumer. */
    private readonly declare: (model: ChannelModel) => Promise<void>,
    private readonly log: Logger,
  ) {
    this.slots = new Slots(concurrency);
    this.tuner = prefetch === undefined ? new PrefetchTuner(concurrency) : undefined;
    this.prefetch = prefetch ?? this.tuner!.min;
  }

  /** Deliveries this worker holds at most right now (its prefetch). */
  get heldAtMost(): number {
    return this.prefetch;
  }

  /** For the connection's setup hook: runs after every (re)connection. */
  async setup(model: ChannelModel): Promise<void> {
    if (this.stopped) return;
    const channel = await model.createChannel();
    channel.on("error", (err: Error) => this.log.warn({ err: err.message }, "consumer channel error"));
    channel.on("close", () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      this.consumerTag = undefined;
      this.consume = undefined;
      // A channel can close while its connection stays up (a channel-level error): start again on it.
      if (!this.stopped) void this.restart(model);
    });
    this.channel = channel;
    this.consumerTag = undefined;
    const acks = new Acknowledger(channel, (err, count) => this.log.warn({ err: messageOf(err), deliveries: count }, "could not acknowledge; the broker will redeliver"));
    // RabbitMQ applies a prefetch to the consumers started after it is set: each consumer gets the current one.
    this.consume = async () => {
      await channel.prefetch(this.prefetch);
      return (await channel.consume(this.queue, (msg) => this.onDelivery(channel, acks, model, msg), { noAck: false })).consumerTag;
    };
    if (this.tuner && !this.tuneTimer) {
      this.tuneTimer = setInterval(() => this.tune(), QUICK_TUNE_MS);
      this.tuneTimer.unref();
    }
    await this.sync();
  }

  /** Sizes the prefetch to the last window's tasks; a new size takes a new consumer (`reconsume`). */
  private tune(): void {
    const window = this.slots.peek();
    if (window.ms < TUNE_MS && window.released < QUICK_TUNE_RELEASES) return;
    const next = this.tuner?.next(this.prefetch, this.slots.usage());
    if (next === undefined) return;
    const handBack = next < this.prefetch && this.tuner!.worthHandingBack(this.slots.waitingCount);
    this.prefetch = next;
    void this.reconsume(handBack).catch((err: unknown) => this.log.warn({ queue: this.queue, err: messageOf(err) }, "could not consume with the new prefetch; the connection's recovery consumes again"));
  }

  /**
   * Cancels the consumer and consumes again, with the current prefetch. Deliveries held stay held and are acked as
   * before (acks belong to the channel). Does nothing while not consuming: the next consume takes the new prefetch.
   * A smaller prefetch means longer tasks; with `handBack` (the waiting ones hold a quarter second of work or more,
   * see PrefetchTuner.worthHandingBack) the deliveries still waiting for a slot go back to the queue once the old
   * consumer is cancelled (so none comes back to it), for any worker with a free slot; the new consumer takes what
   * it is due from the queue again. Without it, a burst of long tasks that followed short ones would wait behind
   * each other here, up to the old prefetch, while other workers idle.
   */
  private reconsume(handBack = false): Promise<void> {
    const run = this.switching.then(async () => {
      const { channel, consumerTag, consume } = this;
      if (!channel || !consumerTag || !consume || this.paused || this.stopped) return;
      this.consumerTag = undefined;
      await channel.cancel(consumerTag);
      if (this.channel !== channel || this.paused || this.stopped) return;
      const handedBack = handBack ? this.slots.cancelWaiting() : 0;
      if (handedBack > 0) this.log.info({ queue: this.queue, prefetch: this.prefetch, deliveries: handedBack }, "prefetch lowered for longer tasks: deliveries waiting for a slot went back to the queue");
      this.consumerTag = await consume();
      this.log.debug({ queue: this.queue, prefetch: this.prefetch }, "prefetch sized to the tasks: consuming with it");
    });
    this.switching = run.catch(() => undefined);
    return run;
  }

  /**
   * Pauses (true) or resumes (false) taking deliveries; idempotent. Paused, the consumer is cancelled (basic.cancel),
   * deliveries held but not started go back to the queue at once (nack with requeue), and running ones finish.
   * Holds across reconnections: a consumer set up while paused does not consume.
   */
  setPaused(paused: boolean): Promise<void> {
    if (paused === this.paused) return this.switching;
    this.paused = paused;
    if (paused) this.slots.cancelWaiting();
    // A failure leaves the channel to the connection's recovery, whose setup consumes (or not) as `paused` says.
    return this.sync().catch((err: unknown) => this.log.warn({ queue: this.queue, err: messageOf(err) }, "could not pause or resume consuming; it is set up again on the next reconnection"));
  }

  /** Brings the consumer in line with `paused` and `stopped`, one change at a time; rejects if that failed. */
  private sync(): Promise<void> {
    const run = this.switching.then(async () => {
      const want = !this.paused && !this.stopped;
      const { channel, consumerTag, consume } = this;
      if (!want && channel && consumerTag) {
        this.consumerTag = undefined;
        await channel.cancel(consumerTag).catch(() => undefined);
        // Deliveries that came before the cancel took effect go back too.
        if (this.paused) this.slots.cancelWaiting();
        if (this.paused && !this.stopped) this.log.info({ queue: this.queue }, "queue paused: taking no new tasks");
      } else if (want && channel && !consumerTag && consume) {
        this.consumerTag = await consume();
        this.log.info({ queue: this.queue, prefetch: this.prefetch }, "consuming tasks");
      } else if (!want && !this.stopped && !consumerTag) {
        this.log.info({ queue: this.queue }, "queue paused: not consuming until it is resumed");
      }
    });
    this.switching = run.catch(() => undefined);
    return run;
  }

  /** Stops new deliveries; in-flight ones still finish and are acknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tuneTimer);
    this.slots.cancelWaiting();
    await this.sync();
  }

  private async restart(model: ChannelModel): Promise<void> {
    await delay(1000);
    if (this.stopped) return;
    try {
      await this.declare(model);
      await this.setup(model);
    } catch (err) {
      // The connection is gone too; its recovery runs setup again.
      this.log.warn({ err: messageOf(err) }, "could not resume consuming on this connection");
    }
  }

  private onDelivery(channel: Channel, acks: Acknowledger, model: ChannelModel, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer, e.g. the queue was deleted: declare it again and resume.
      this.log.warn({ queue: this.queue }, "RabbitMQ cancelled the consumer; resuming");
      if (this.channel === channel) this.channel = undefined;
      channel.close().catch(() => undefined);
      void this.restart(model);
      return;
    }
    acks.track(message);
    this.tuner?.delivered(message.content.length);
    // Log lines about a delivery carry its task id (the message id Taskcast and well-behaved publishers set).
    const taskId = typeof message.properties.messageId === "string" ? message.properties.messageId : undefined;
    const done: Promise<void> = this.process(channel, acks, message, taskId).finally(() => {
      this.running.delete(done);
      this.settled++;
    });
    this.running.add(done);
  }

  /**
   * A delivery's slot. While the prefetch is sized above its least (short tasks), the delivery is handed over before
   * it holds one (`claimFirst`): its claim's round trip to Redis overlaps the running tasks instead of taking a slot
   * (measured +4 to +25 % tasks a second at concurrency 16, +48 to +97 % at 1). Its hold then answers false if the queue was paused or
   * the channel closed meanwhile.
   */
  private slotLease(channel: Channel): SlotLease {
    if (!this.tuner || this.prefetch <= this.tuner.min) return this.slots.lease();
    return new ClaimFirstLease(this.slots, this, channel);
  }

  /** Whether a delivery of `channel` may still run: the queue is not paused and the channel still open. */
  mayRun(channel: Channel): boolean {
    return !this.paused && this.channel === channel;
  }

  /** Handles a delivery once a slot is free, then acknowledges or requeues it. */
  private async process(channel: Channel, acks: Acknowledger, message: ConsumeMessage, taskId: string | undefined): Promise<void> {
    let outcome: Outcome;
    const slot = this.slotLease(channel);
    if (!slot.claimFirst && !(await slot.hold())) {
      outcome = "release"; // stopping or paused: a delivery that never started goes back to the queue at once
    } else if (this.paused) {
      slot.release();
      outcome = "release";
    } else if (this.channel !== channel) {
      // Its channel closed while it waited: RabbitMQ has requeued it already, and the ack could not be sent.
      slot.release();
      this.log.info({ taskId }, "delivery's channel closed before a slot was free; RabbitMQ redelivers it");
      return;
    } else {
      try {
        outcome = await this.handle(message, slot);
      } catch (err) {
        this.log.error({ taskId, err: messageOf(err) }, "task handling failed; requeueing the message");
        outcome = "requeue";
      } finally {
        slot.release();
      }
    }
    // Its channel closed while it waited for a slot (claimed first): RabbitMQ has requeued it already.
    if (outcome === "release" && this.channel !== channel) return;
    if (outcome === "requeue") await delay(1000); // do not spin on a message that cannot be handled right now
    try {
      const settled = this.onAckSettled.get(message);
      this.onAckSettled.delete(message);
      if (outcome === "ack") {
        acks.ack(message);
        if (settled) this.settleLater(channel, settled);
      } else acks.requeue(message);
    } catch (err) {
      // The channel died: RabbitMQ redelivers the message to another consumer.
      this.log.warn({ taskId, err: messageOf(err) }, "could not acknowledge; the broker will redeliver");
    }
  }

  /**
   * Runs `settled` once RabbitMQ has taken the delivery's ack, should the handler ack it: at most a second or so
   * after the ack, a synchronous request on the same channel (basic.qos, unchanged) is answered, and a channel
   * handles its frames in order. Never runs if the channel closed first: the ack may then be lost, and the
   * message delivered again.
   */
  whenAckSettled(message: ConsumeMessage, settled: () => void): void {
    this.onAckSettled.set(message, settled);
  }

  private settleLater(channel: Channel, settled: () => void): void {
    this.acksToSettle.push({ channel, settled });
    this.checkpointTimer ??= setTimeout(() => void this.checkpoint(), ACK_CHECKPOINT_MS);
    this.checkpointTimer.unref();
  }

  /** The acks sent so far on the current channel are settled once it answers a request sent after them. */
  private async checkpoint(): Promise<void> {
    const batch = this.acksToSettle;
    this.acksToSettle = [];
    const channel = this.channel;
    const current = batch.filter((a) => a.channel === channel);
    try {
      if (channel && current.length > 0) {
        await channel.prefetch(this.prefetch);
        for (const { settled } of current) settled();
      }
    } catch {
      // The channel closed: its acks may be lost.
    } finally {
      this.checkpointTimer = undefined;
      if (this.acksToSettle.length > 0) {
        this.checkpointTimer = setTimeout(() => void this.checkpoint(), ACK_CHECKPOINT_MS);
        this.checkpointTimer.unref();
      }
    }
  }

  /** Resolves when every in-flight delivery is settled, or after `timeoutMs`; true if all settled. */
  async drain(timeoutMs: number): Promise<boolean> {
    const all = Promise.all(this.running).then(() => true);
    const timeout = delay(timeoutMs, false, { ref: false });
    return Promise.race([all, timeout]);
  }
}

/** A delivery's lease handed over before its slot is held (SlotLease.claimFirst): a slot granted once the delivery may no longer run goes back. */
class ClaimFirstLease extends Lease {
  readonly claimFirst = true;

  constructor(
    slots: Slots,
    private readonly consumer: Pick<TaskConsumer, "mayRun">,
    private readonly channel: Channel,
  ) {
    super(slots);
  }

  override async hold(): Promise<boolean> {
    if (!(await super.hold())) return false;
    if (this.consumer.mayRun(this.channel)) return true;
    this.release();
    return false;
  }

  /** False also when the delivery may no longer run: `hold` then answers why. */
  override tryHold(): boolean {
    if (!super.tryHold()) return false;
    if (this.consumer.mayRun(this.channel)) return true;
    this.release();
    return false;
  }
}
