// Presence and the channel list: read once per interval per web node and pushed to its own tabs when they change.
import { z } from "zod";
import type { ChannelList, Presence } from "../../lib/contract";
import { RelayLagSchema, type RelayLag, type WebNodeList } from "../../lib/insights";
import { safeJson } from "../../lib/safe-json";
import type { BroadcastLog } from "../broadcast/broadcast-log";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import { redisTime, type Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import type { IoServer } from "./socket-server";
import { pushToStream } from "./stream-rooms";

/** A web node that has not reported for this long (by Redis's clock) is gone. */
const NODE_STALE_MS = 5000;
const NODE_FORGET_MS = 60 * 60 * 1000;

const NO_LAG: RelayLag = { count: 0, avgMs: null, maxMs: null };
const NodeBeatSchema = z.object({ connections: z.number().int().min(0), beatAt: z.number(), lagMs: RelayLagSchema.optional() });

export class PresenceTicker {
  private presence: Presence = { total: 0, nodes: [] };
  private channels: ChannelList = { channels: [] };
  private webNodeList: WebNodeList = { nodes: [] };
  private timer?: NodeJS.Timeout;
  private failing = false;
  /** This node's id in presence (host:port), known once the node listens. */
  private nodeId = "";

  constructor(
    private readonly io: IoServer,
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly broadcastLog: BroadcastLog,
    private readonly log: Logger,
    /** This node's broadcast delivery lag over the last minute, shared in its beat. */
    private readonly lag: () => RelayLag = () => NO_LAG,
  ) {}

  /** Starts reporting this node as `nodeId` (host:port) once per interval. */
  start(nodeId: string, intervalMs: number): void {
    this.nodeId = nodeId;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (!this.nodeId) return;
    await this.redis.hdel(this.keys.presence, this.nodeId).catch(() => undefined);
  }

  async tick(): Promise<void> {
    const io = this.io;
    try {
      // Beats are stamped and aged with Redis's clock: web nodes on machines whose clocks disagree still see each other.
      const now = await redisTime(this.redis);
      const connections = io.of("/").sockets.size;
      const lagMs = this.lag();
      const [, beats, channels] = await Promise.all([
        this.redis.hset(this.keys.presence, this.nodeId, JSON.stringify({ connections, beatAt: now, lagMs })),
        this.redis.hgetall(this.keys.presence),
        this.broadcastLog.channels(),
      ]);
      const nodes: Presence["nodes"] = [];
      const webNodes: WebNodeList["nodes"] = [];
      const forgotten: string[] = [];
      for (const [id, raw] of Object.entries(beats)) {
        const beat = NodeBeatSchema.safeParse(safeJson(raw));
        if (!beat.success || now - beat.data.beatAt > NODE_FORGET_MS) forgotten.push(id);
        else if (id === this.nodeId) {
          nodes.push({ id, connections });
          webNodes.push({ id, connections, lagMs, beatAt: now });
        } else if (now - beat.data.beatAt <= NODE_STALE_MS) {
          nodes.push({ id, connections: beat.data.connections });
          webNodes.push({ id, connections: beat.data.connections, lagMs: beat.data.lagMs ?? NO_LAG, beatAt: beat.data.beatAt });
        }
      }
      webNodes.sort((a, b) => a.id.localeCompare(b.id));
      this.webNodeList = { nodes: webNodes };
      pushToStream(io, "web-nodes", this.webNodeList);
      if (forgotten.length > 0) await this.redis.hdel(this.keys.presence, ...forgotten);
      nodes.sort((a, b) => a.id.localeCompare(b.id));
      const presence = { total: nodes.reduce((sum, n) => sum + n.connections, 0), nodes };
      if (JSON.stringify(presence) !== JSON.stringify(this.presence)) {
        this.presence = presence;
        pushToStream(io, "presence", presence);
      }
      if (JSON.stringify(channels) !== JSON.stringify(this.channels.channels)) {
        this.channels = { channels };
        pushToStream(io, "channels", this.channels);
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

  /** Channels that have had broadcasts, as of the last tick. */
  channelList(): ChannelList {
    return this.channels;
  }

  /** Live web nodes with their connections and broadcast delivery lag, as of the last tick. */
  webNodes(): WebNodeList {
    return this.webNodeList;
  }
}
