// Takes in what outside services PUBLISH on the broadcast channel. Every web node subscribes and keeps
// the last seconds of messages; only the holder of a short Redis lease records them, so each reaches
// every tab once. A node that takes over the lease resumes after the last message the previous holder
// recorded, so nothing published while the old holder was dying is lost, and nothing is recorded twice.
import { createHash, randomUUID } from "node:crypto";
import { BroadcastSchema, ChannelNameSchema, DEFAULT_BROADCAST_CHANNEL, ExternalBroadcastSchema } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import { RELEASE_LEASE, RENEW_LEASE } from "../redis/lease";
import type { BroadcastLog } from "./broadcast-log";

const LEASE_MS = 6000;
const RENEW_MS = 2000;
/** How long each node remembers outside messages: comfortably longer than a lease. */
const BUFFER_MS = 30_000;
const BUFFER_MAX = 5000;
/**
 * Messages a lease holder keeps that it has yet to record (while it aligns after a takeover, or while Redis
 * is slow): never dropped for BUFFER_MS or BUFFER_MAX, only past this many, with an error in the log.
 */
const PENDING_MAX = 100_000;
/** Recorded hashes compared when a new lease holder looks for where the previous one stopped. */
const ALIGN = 20;
/** Outside messages sent to Redis together while recording. */
const PUMP_BATCH = 200;
/**
 * A new lease holder's fence goes out again this often until its subscriber sees it (a subscriber that
 * reconnected meanwhile missed it).
 */
const FENCE_REPEAT_MS = 5000;


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

/** What `record()` does with a raw message: records it, or skips it with the warning to log (none for our own echoes). */
function readRecordable(raw: string, maxBytes: number): { message: string; channel: string } | { skip: string | undefined } {
  const read = readExternalMessage(raw);
  if (read === undefined) return { skip: undefined };
  if ("error" in read) return { skip: `ignored an outside broadcast: ${read.error}` };
  if (read.message.trim() === "" || Buffer.byteLength(read.message) > maxBytes) {
    return { skip: `ignored an outside broadcast: it must be a non-empty text of at most ${maxBytes} bytes` };
  }
  return read;
}

/** Whether a lease holder records this raw message (and notes its hash in the ingest log). */
export const isRecordable = (raw: string, maxBytes: number) => !("skip" in readRecordable(raw, maxBytes));

interface Buffered {
  seq: number;
  raw: string;
  hash: string;
  at: number;
  /** Whether it would be recorded; worked out when first needed (aligning after a takeover). */
  recordable?: boolean;
}

export class BroadcastIngestor {
  /** This node's current term as lease holder: a new one at every takeover, so a write of an earlier term fails. */
  private token = randomUUID();
  private leader = false;
  private timer?: NodeJS.Timeout;
  private readonly buffer: Buffered[] = [];
  private received = 0;
  /** Sequence number of the next buffered message to record, while leader. */
  private cursor = 0;
  /**
   * While leader but not yet sure where the previous holder stopped: the ingest log's tail, and the fence this
   * node published right after reading it. Redis sends a subscriber its messages in the order it ran the
   * PUBLISHes, so once the fence arrives every message the previous holder recorded has reached the buffer.
   */
  private aligning?: { tail: string[]; fence: string; fenced: boolean; timer: NodeJS.Timeout };
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
      else if (channel === this.keys.broadcastIngestFence) this.onFence(raw);
    });
    // One connection for both channels: the fence is ordered with the outside messages.
    await this.subscriber.subscribe(this.channel, this.keys.broadcastIngestFence);
    await this.campaign();
    this.timer = setInterval(() => void this.campaign(), RENEW_MS);
  }

  get isLeader(): boolean {
    return this.leader;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.aligning?.timer);
    this.aligning = undefined;
    await this.campaigning;
    await this.pumping;
    if (this.leader) await this.redis.eval(RELEASE_LEASE, 1, this.keys.broadcastIngestor, this.token).catch(() => undefined);
    this.leader = false;
  }

  private campaign(): Promise<void> {
    this.campaigning ??= this.tryLease().finally(() => (this.campaigning = undefined));
    return this.campaigning;
  }

  private async tryLease(): Promise<void> {
    try {
      if (this.leader) {
        this.leader = (await this.redis.eval(RENEW_LEASE, 1, this.keys.broadcastIngestor, this.token, String(LEASE_MS))) === 1;
        if (!this.leader) this.logger.warn("lost the broadcast ingest lease");
        this.align();
        return;
      }
      const token = randomUUID();
      if ((await this.redis.set(this.keys.broadcastIngestor, token, "PX", LEASE_MS, "NX")) !== "OK") return;
      this.token = token;
      // Resume after the last outside message any holder recorded, from what this node has buffered. No one
      // else can record while this node holds the lease, so the tail stays as read here; the fence published
      // after reading it tells when this node's subscriber has received everything the tail names.
      const tail = await this.log.ingestedTail(ALIGN);
      this.leader = true;
      this.logger.info("took the broadcast ingest lease: this node records outside broadcasts");
      clearInterval(this.aligning?.timer);
      this.aligning = { tail, fence: token, fenced: false, timer: setInterval(() => this.publishFence(token), FENCE_REPEAT_MS) };
      this.publishFence(token);
    } catch (err) {
      this.leader = false;
      this.align();
      this.logger.warn({ err: messageOf(err) }, "broadcast ingest lease check failed");
    }
  }

  private onMessage(raw: string): void {
    const now = Date.now();
    this.buffer.push({ seq: this.received++, raw, hash: hashOf(raw), at: now });
    // Old messages go, except ones this node, as the lease holder, has yet to record.
    const pending = (b: Buffered) => this.leader && (this.aligning !== undefined || b.seq >= this.cursor);
    let dropped = 0;
    while (this.buffer.length > 0) {
      const oldest = this.buffer[0];
      if (pending(oldest) ? this.buffer.length <= PENDING_MAX : this.buffer.length <= BUFFER_MAX && now - oldest.at <= BUFFER_MS) break;
      if (pending(oldest)) dropped++;
      this.buffer.shift();
    }
    if (dropped > 0) this.logger.error({ dropped, pending: this.received - this.cursor }, "dropped outside broadcasts this node had yet to record: it is too far behind (is Redis answering?)");
    if (this.aligning) this.align();
    else if (this.leader) this.pump();
  }

  private publishFence(token: string): void {
    this.redis.publish(this.keys.broadcastIngestFence, token).catch((err: unknown) => this.logger.warn({ err: messageOf(err) }, "could not publish the broadcast ingest fence; trying again"));
  }

  private onFence(raw: string): void {
    if (this.aligning?.fence !== raw) return; // another node's, or an earlier term's
    this.aligning.fenced = true;
    this.align();
  }

  /**
   * After a takeover, once the fence has arrived (holding the lease and recording nothing until then, however
   * far this node's subscriber lags): starts recording right after where the previous holder stopped. With no
   * match, everything the previous holder recorded is older than this node's buffer (it subscribed later):
   * all of the buffer is recorded.
   */
  private align(): void {
    const aligning = this.aligning;
    if (!aligning) return;
    if (!this.leader) {
      clearInterval(aligning.timer);
      this.aligning = undefined;
      return;
    }
    if (!aligning.fenced) return;
    clearInterval(aligning.timer);
    this.aligning = undefined;
    const recordable = (b: Buffered) => (b.recordable ??= isRecordable(b.raw, this.maxBytes));
    const matched = matchedResumePoint(this.buffer, aligning.tail, this.received, recordable);
    this.cursor = matched ?? this.buffer[0]?.seq ?? this.received;
    const pending = this.received - this.cursor;
    if (matched === undefined) this.logger.warn({ pending }, "none of the messages the previous broadcast ingest lease holder recorded is in this node's buffer (it subscribed after them): recording all of it");
    else this.logger.info({ pending }, "resuming outside broadcasts after the last one the previous lease holder recorded");
    this.pump();
  }

  /**
   * Records buffered messages from the cursor on, in the order Redis delivered them. Everything pending is
   * sent at once: commands on one connection run in the order they were sent, so the order holds, and the
   * ingest rate no longer depends on a round trip per message (which a node busy fanning out falls behind on).
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      while (this.leader && !this.aligning && this.cursor < this.received) {
        const batch: Buffered[] = [];
        while (this.cursor < this.received && batch.length < PUMP_BATCH) {
          const item = this.bufferedAt(this.cursor);
          this.cursor++;
          if (item) batch.push(item); // else it fell out of the buffer: older than BUFFER_MS
        }
        const token = this.token;
        await Promise.all(batch.map((item) => this.record(item, token)));
      }
    })().finally(() => {
      this.pumping = undefined;
      if (this.leader && !this.aligning && this.cursor < this.received) this.pump();
    });
  }

  /** The buffered message with this sequence number (the buffer holds consecutive ones), if still kept. */
  private bufferedAt(seq: number): Buffered | undefined {
    const first = this.buffer[0]?.seq;
    return first === undefined ? undefined : this.buffer[seq - first];
  }

  /** Records one message in lease term `token`; a write of an earlier term is refused by Redis and changes nothing here. */
  private async record(item: Buffered, token: string): Promise<void> {
    // The same rule decides which messages the ingest log holds (see matchedResumePoint).
    const read = readRecordable(item.raw, this.maxBytes);
    if ("skip" in read) return void (read.skip && this.logger.warn(read.skip));
    const { message, channel } = read;
    try {
      const recorded = await this.log.ingest(message, channel, token, item.hash);
      if (token !== this.token) return; // this node took the lease again meanwhile: the new term aligned afresh
      if (!recorded) {
        // The lease moved on (this node was too slow to renew it): the new holder records from here.
        if (this.leader) this.logger.warn("lost the broadcast ingest lease while recording");
        this.leader = false;
      }
    } catch (err) {
      if (token !== this.token) return;
      // Redis is unreachable: try this message (and the rest of its batch) again on the next pump.
      this.cursor = Math.min(this.cursor, item.seq);
      if (this.leader) this.logger.error({ err: messageOf(err) }, "could not record an outside broadcast; will retry when the lease is held again");
      this.leader = false;
    }
  }
}

/** The hash the ingest log keeps of a recorded outside message. */
export const hashOf = (raw: string) => createHash("sha1").update(raw).digest("base64").slice(0, 16);

/**
 * Where a new lease holder starts in its buffer: just after the latest position whose preceding recordable
 * messages match the tail of the ingest log (Redis delivers a channel's messages to every subscriber in the
 * same order), comparing only messages that `recordable` says are recorded, as only those are in the log.
 * A match may run off the buffer's start (the tail began before this node subscribed). With an empty tail
 * (nothing recorded yet), everything buffered is pending. Undefined when there is no match yet: this node may
 * not have received the newest recorded messages so far. Identical texts share a hash, so a run of repeated
 * texts can match at the wrong one of them.
 */
export function matchedResumePoint<T extends { seq: number; hash: string }>(
  buffer: readonly T[],
  tail: readonly string[],
  received: number,
  recordable: (item: T) => boolean = () => true,
): number | undefined {
  if (tail.length === 0) return buffer[0]?.seq ?? received;
  const kept = buffer.filter(recordable);
  for (let i = kept.length - 1; i >= 0; i--) {
    let matched = 0;
    while (matched < tail.length && i - matched >= 0 && kept[i - matched].hash === tail[tail.length - 1 - matched]) matched++;
    if (matched === tail.length || (matched > 0 && i - matched < 0)) return kept[i].seq + 1;
  }
  return undefined;
}
