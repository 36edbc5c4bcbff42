// Takes in what outside services PUBLISH on the broadcast channel. Every web node subscribes and keeps
// the last seconds of messages; only the holder of a short Redis lease records them, so each reaches
// every tab once. A node that takes over the lease resumes after the last message the previous holder
// recorded, so nothing published while the old holder was dying is lost.
import { createHash, randomUUID } from "node:crypto";
import { BroadcastSchema, ChannelNameSchema, DEFAULT_BROADCAST_CHANNEL, ExternalBroadcastSchema } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import type { BroadcastLog } from "./broadcast-log";

const LEASE_MS = 6000;
const RENEW_MS = 2000;
/** How long each node remembers outside messages: comfortably longer than a lease. */
const BUFFER_MS = 30_000;
const BUFFER_MAX = 5000;
/** Recorded hashes compared when a new lease holder looks for where the previous one stopped. */
const ALIGN = 20;
/** Outside messages sent to Redis together while recording. */
const PUMP_BATCH = 200;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export type ExternalMessage = { message: string; channel: string } | { error: string } | undefined;

/** Reads an outside message: JSON `{"message", "channel"?}` or plain text. Undefined for our own stamped echoes. */
export function readExternalMessage(raw: string): ExternalMessage {
  const json = safeJson(raw);
  if (json === undefined) return { message: raw, channel: DEFAULT_BROADCAST_CHANNEL };
  if (BroadcastSchema.safeParse(json).success && typeof (json as { id?: unknown }).id === "string") return undefined;
  const external = ExternalBroadcastSchema.safeParse(json);
  if (!external.success) return { message: raw, channel: DEFAULT_BROADCAST_CHANNEL };
  const channel = external.data.channel ?? DEFAULT_BROADCAST_CHANNEL;
  if (!ChannelNameSchema.safeParse(channel).success) return { error: `invalid channel ${JSON.stringify(channel.slice(0, 80))}` };
  return { message: external.data.message, channel };
}

interface Buffered {
  seq: number;
  raw: string;
  hash: string;
  at: number;
}

export class BroadcastIngestor {
  private readonly token = randomUUID();
  private leader = false;
  private timer?: NodeJS.Timeout;
  private readonly buffer: Buffered[] = [];
  private received = 0;
  /** Sequence number of the next buffered message to record, while leader. */
  private cursor = 0;
  private pumping?: Promise<void>;
  private campaigning?: Promise<void>;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: RedisKeys,
    private readonly channel: string,
    private readonly log: BroadcastLog,
    private readonly maxBytes: number,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.subscriber.on("message", (channel: string, raw: string) => {
      if (channel === this.channel) this.onMessage(raw);
    });
    await this.subscriber.subscribe(this.channel);
    await this.campaign();
    this.timer = setInterval(() => void this.campaign(), RENEW_MS);
  }

  get isLeader(): boolean {
    return this.leader;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.campaigning;
    await this.pumping;
    if (this.leader) await this.redis.eval(RELEASE, 1, this.keys.broadcastIngestor, this.token).catch(() => undefined);
    this.leader = false;
  }

  private campaign(): Promise<void> {
    this.campaigning ??= this.tryLease().finally(() => (this.campaigning = undefined));
    return this.campaigning;
  }

  private async tryLease(): Promise<void> {
    try {
      if (this.leader) {
        this.leader = (await this.redis.eval(RENEW, 1, this.keys.broadcastIngestor, this.token, String(LEASE_MS))) === 1;
        if (!this.leader) this.logger.warn("lost the broadcast ingest lease");
        return;
      }
      if ((await this.redis.set(this.keys.broadcastIngestor, this.token, "PX", LEASE_MS, "NX")) !== "OK") return;
      // Resume after the last outside message any holder recorded, from what this node has buffered.
      const tail = await this.log.ingestedTail(ALIGN);
      this.cursor = resumePoint(this.buffer, tail, this.received);
      this.leader = true;
      const pending = this.received - this.cursor;
      this.logger.info({ pending }, "took the broadcast ingest lease: this node records outside broadcasts");
      this.pump();
    } catch (err) {
      this.leader = false;
      this.logger.warn({ err: messageOf(err) }, "broadcast ingest lease check failed");
    }
  }

  private onMessage(raw: string): void {
    const now = Date.now();
    this.buffer.push({ seq: this.received++, raw, hash: hashOf(raw), at: now });
    // Old messages go, except ones this node, as the lease holder, has yet to record.
    const evictable = (b: Buffered) => now - b.at > BUFFER_MS && (!this.leader || b.seq < this.cursor);
    while (this.buffer.length > BUFFER_MAX || (this.buffer.length > 0 && evictable(this.buffer[0]))) this.buffer.shift();
    if (this.leader) this.pump();
  }

  /**
   * Records buffered messages from the cursor on, in the order Redis delivered them. Everything pending is
   * sent at once: commands on one connection run in the order they were sent, so the order holds, and the
   * ingest rate no longer depends on a round trip per message (which a node busy fanning out falls behind on).
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      while (this.leader && this.cursor < this.received) {
        const batch: Buffered[] = [];
        while (this.cursor < this.received && batch.length < PUMP_BATCH) {
          const item = this.bufferedAt(this.cursor);
          this.cursor++;
          if (item) batch.push(item); // else it fell out of the buffer: older than BUFFER_MS
        }
        await Promise.all(batch.map((item) => this.record(item)));
      }
    })().finally(() => {
      this.pumping = undefined;
      if (this.leader && this.cursor < this.received) this.pump();
    });
  }

  /** The buffered message with this sequence number (the buffer holds consecutive ones), if still kept. */
  private bufferedAt(seq: number): Buffered | undefined {
    const first = this.buffer[0]?.seq;
    return first === undefined ? undefined : this.buffer[seq - first];
  }

  private async record(item: Buffered): Promise<void> {
    const read = readExternalMessage(item.raw);
    if (read === undefined) return;
    if ("error" in read) return void this.logger.warn(`ignored an outside broadcast: ${read.error}`);
    const { message, channel } = read;
    if (message.trim() === "" || Buffer.byteLength(message) > this.maxBytes) {
      this.logger.warn({ bytes: Buffer.byteLength(message) }, `ignored an outside broadcast: it must be a non-empty text of at most ${this.maxBytes} bytes`);
      return;
    }
    try {
      const recorded = await this.log.ingest(message, channel, this.token, item.hash);
      if (!recorded) {
        // The lease moved on (this node was too slow to renew it): the new holder records from here.
        if (this.leader) this.logger.warn("lost the broadcast ingest lease while recording");
        this.leader = false;
      }
    } catch (err) {
      // Redis is unreachable: try this message (and the rest of its batch) again on the next pump.
      this.cursor = Math.min(this.cursor, item.seq);
      if (this.leader) this.logger.error({ err: messageOf(err) }, "could not record an outside broadcast; will retry when the lease is held again");
      this.leader = false;
    }
  }
}

const hashOf = (raw: string) => createHash("sha1").update(raw).digest("base64").slice(0, 16);

/**
 * Where a new lease holder starts in its buffer: just after the latest position whose preceding hashes
 * match the tail of the ingest log (Redis delivers a channel's messages to every subscriber in the same
 * order). With no match, everything buffered is new.
 */
export function resumePoint(buffer: readonly { seq: number; hash: string }[], tail: readonly string[], received: number): number {
  if (tail.length === 0 || buffer.length === 0) return buffer[0]?.seq ?? received;
  for (let i = buffer.length - 1; i >= 0; i--) {
    let matched = 0;
    while (matched < tail.length && i - matched >= 0 && buffer[i - matched].hash === tail[tail.length - 1 - matched]) matched++;
    if (matched === tail.length || (matched > 0 && i - matched < 0)) return buffer[i].seq + 1;
  }
  return buffer[0].seq;
}
