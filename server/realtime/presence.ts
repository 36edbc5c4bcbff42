// Presence and the channel list: read once per interval per web node and pushed to its own tabs when they change.
import { z } from "zod";
import type { ChannelList, Presence } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import type { BroadcastLog } from "../broadcast/broadcast-log";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import type { IoServer, IoSocket } from "./socket-server";

/** A web node that has not reported for this long is gone. */
const NODE_STALE_MS = 5000;
const NODE_FORGET_MS = 60 * 60 * 1000;

const NodeBeatSchema = z.object({ connections: z.number().int().min(0), beatAt: z.number() });

export class PresenceTicker {
  private presence: Presence = { total: 0, nodes: [] };
  private channels: ChannelList = { channels: [] };
  private timer?: NodeJS.Timeout;
  private failing = false;

  constructor(
    private readonly io: () => IoServer,
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly broadcastLog: BroadcastLog,
    private readonly log: Logger,
    /** This node's id in presence, e.g. host:port. */
    readonly nodeId: string,
  ) {}

  start(intervalMs: number): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.hdel(this.keys.presence, this.nodeId).catch(() => undefined);
  }

  /** What a new connection is sent at once. */
  sendSnapshot(socket: IoSocket): void {
    socket.emit("presence", this.presence);
    socket.emit("broadcast:channels", this.channels);
  }

  async tick(): Promise<void> {
    const io = this.io();
    try {
      const now = Date.now();
      const connections = io.of("/").sockets.size;
      const [, beats, channels] = await Promise.all([
        this.redis.hset(this.keys.presence, this.nodeId, JSON.stringify({ connections, beatAt: now })),
        this.redis.hgetall(this.keys.presence),
        this.broadcastLog.channels(),
      ]);
      const nodes: Presence["nodes"] = [];
      const forgotten: string[] = [];
      for (const [id, raw] of Object.entries(beats)) {
        const beat = NodeBeatSchema.safeParse(safeJson(raw));
        if (!beat.success || now - beat.data.beatAt > NODE_FORGET_MS) forgotten.push(id);
        else if (id === this.nodeId) nodes.push({ id, connections });
        else if (now - beat.data.beatAt <= NODE_STALE_MS) nodes.push({ id, connections: beat.data.connections });
      }
      if (forgotten.length > 0) await this.redis.hdel(this.keys.presence, ...forgotten);
      nodes.sort((a, b) => a.id.localeCompare(b.id));
      const presence = { total: nodes.reduce((sum, n) => sum + n.connections, 0), nodes };
      if (JSON.stringify(presence) !== JSON.stringify(this.presence)) {
        this.presence = presence;
        io.local.emit("presence", presence);
      }
      if (JSON.stringify(channels) !== JSON.stringify(this.channels.channels)) {
        this.channels = { channels };
        io.local.emit("broadcast:channels", this.channels);
      }
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn({ err: messageOf(err) }, "presence unavailable");
      this.failing = true;
    }
  }

  current(): Presence {
    return this.presence;
  }
}
