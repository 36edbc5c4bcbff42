// Takes in what outside services PUBLISH on the broadcast channel. Every web node subscribes, but only
// the one holding a short Redis lease appends each message to the log, so it reaches each tab once.
import { randomUUID } from "node:crypto";
import { BroadcastSchema, ExternalBroadcastSchema } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import type { BroadcastLog } from "./broadcast-log";

const LEASE_MS = 6000;
const RENEW_MS = 2000;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** Reads an outside message: JSON `{"message": ...}` or plain text. Undefined for our own stamped echoes. */
export function readExternalMessage(raw: string): string | undefined {
  const json = safeJson(raw);
  if (json === undefined) return raw;
  if (BroadcastSchema.safeParse(json).success) return undefined;
  const external = ExternalBroadcastSchema.safeParse(json);
  return external.success ? external.data.message : raw;
}

export class BroadcastIngestor {
  private readonly token = randomUUID();
  private leader = false;
  private timer?: NodeJS.Timeout;
  /** Appends run one at a time so they keep the order Redis delivered them in. */
  private chain: Promise<void> = Promise.resolve();

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
    await this.chain;
    if (this.leader) await this.redis.eval(RELEASE, 1, this.keys.broadcastIngestor, this.token).catch(() => undefined);
    this.leader = false;
  }

  private async campaign(): Promise<void> {
    try {
      if (this.leader) {
        this.leader = (await this.redis.eval(RENEW, 1, this.keys.broadcastIngestor, this.token, String(LEASE_MS))) === 1;
        if (!this.leader) this.logger.warn("lost the broadcast ingest lease");
      } else {
        this.leader = (await this.redis.set(this.keys.broadcastIngestor, this.token, "PX", LEASE_MS, "NX")) === "OK";
        if (this.leader) this.logger.info("took the broadcast ingest lease: this node records outside broadcasts");
      }
    } catch (err) {
      this.leader = false;
      this.logger.warn({ err: messageOf(err) }, "broadcast ingest lease check failed");
    }
  }

  private onMessage(raw: string): void {
    if (!this.leader) return;
    const message = readExternalMessage(raw);
    if (message === undefined) return;
    if (message.trim() === "" || Buffer.byteLength(message) > this.maxBytes) {
      this.logger.warn({ bytes: Buffer.byteLength(message) }, `ignored an outside broadcast: it must be a non-empty text of at most ${this.maxBytes} bytes`);
      return;
    }
    this.chain = this.chain
      .then(async () => {
        await this.log.append(message, "redis");
      })
      .catch((err: unknown) => this.logger.error({ err: messageOf(err) }, "could not record an outside broadcast"));
  }
}
