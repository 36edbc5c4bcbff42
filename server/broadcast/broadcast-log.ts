// The broadcast log: every broadcast gets the next id, lands in the bounded history and is fanned out, in one atomic step.
import { BroadcastSchema, type Broadcast, type BroadcastCatchUp, type BroadcastSource } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import type { ScanMeter } from "../access/scan-cost";
import type { LiveEvents } from "../live-events";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

/** Channels remembered for the dashboard's list. */
const MAX_CHANNELS = 100;

// Atomic, so ids, history order and fan-out order are the same for every node.
// KEYS: seq, history, channels. ARGV: message, channel, source, at, history size, fan-out channel, echo channel or "".
// Broadcasts from the dashboard and the API are also echoed, stamped, on the public channel, so outside
// subscribers see every broadcast once (messages published there by outside services are not echoed).
const APPEND_BODY = `
local id = redis.call('INCR', KEYS[1])
local b = cjson.encode({id = tostring(id), message = ARGV[1], channel = ARGV[2], source = ARGV[3], at = ARGV[4]})
redis.call('LPUSH', KEYS[2], b)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
local t = redis.call('TIME')
redis.call('ZADD', KEYS[3], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -${MAX_CHANNELS + 1})
redis.call('PUBLISH', ARGV[6], b)
if ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[7], b) end
return b
`;
const APPEND = APPEND_BODY;
// For outside messages: only the holder of the ingest lease (KEYS[4] = ARGV[8]) may record, and it notes
// the message's hash (ARGV[9]) in the ingest log (KEYS[5]) so a node taking over the lease knows where it stopped.
const INGEST = `
if redis.call('GET', KEYS[4]) ~= ARGV[8] then return false end
redis.call('LPUSH', KEYS[5], ARGV[9])
redis.call('LTRIM', KEYS[5], 0, 199)
${APPEND_BODY}`;

/** Broadcast ids are decimal counters; compare them as numbers of any length. */
const idNumber = (id: string) => BigInt(id);

export class BroadcastLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly channel: string,
    /** Broadcasts kept (BROADCAST_HISTORY). */
    readonly historySize: number,
    /** Hears each broadcast recorded here ("broadcast:logged"): the metrics. */
    private readonly live?: LiveEvents,
    /** Awaited right after each broadcast is recorded (the activity counters); its failure never fails the broadcast. */
    private readonly onRecorded: (broadcast: Broadcast) => Promise<void> = async () => undefined,
  ) {
    // Sent by hash (EVALSHA) after the first call, rather than the whole script with every broadcast. Not the
    // ingest script: the lease holder sends up to 200 of those at once, and should Redis have lost its scripts
    // (SCRIPT FLUSH) the ones refused would be sent again after later ones ran, out of the order published.
    redis.defineCommand("taskcastAppendBroadcast", { numberOfKeys: 3, lua: APPEND });
  }

  private get scripts(): BroadcastScripts {
    return this.redis as unknown as BroadcastScripts;
  }

  async append(message: string, channel: string, source: BroadcastSource): Promise<Broadcast> {
    const raw = await this.scripts.taskcastAppendBroadcast(...this.appendArgs(message, channel, source));
    return this.recorded(BroadcastSchema.parse(JSON.parse(raw)));
  }

  private async recorded(broadcast: Broadcast): Promise<Broadcast> {
    await this.onRecorded(broadcast).catch(() => undefined);
    this.live?.emit("broadcast:logged", broadcast);
    return broadcast;
  }

  /** Records an outside message if `leaseToken` still holds the ingest lease; undefined if it does not. */
  async ingest(message: string, channel: string, leaseToken: string, hash: string): Promise<Broadcast | undefined> {
    const [seq, history, channels, ...rest] = this.appendArgs(message, channel, "redis");
    const raw = (await this.redis.eval(INGEST, 5, seq, history, channels, this.keys.broadcastIngestor, this.keys.broadcastIngestLog, ...rest, leaseToken, hash)) as string | null;
    return raw ? this.recorded(BroadcastSchema.parse(JSON.parse(raw))) : undefined;
  }

  /** Hashes of the newest recorded outside messages, oldest first. */
  async ingestedTail(count: number): Promise<string[]> {
    return (await this.redis.lrange(this.keys.broadcastIngestLog, 0, count - 1)).reverse();
  }

  /** Newest first, in the given channels (all when undefined); `meter` counts the history entries read. */
  async recent(limit: number, channels?: readonly string[], meter?: ScanMeter): Promise<Broadcast[]> {
    const found: Broadcast[] = [];
    const batch = 200;
    for (let start = 0; found.length < limit && start < this.historySize; start += batch) {
      const raws = await this.redis.lrange(this.keys.broadcastHistory, start, start + batch - 1);
      if (meter) meter.scanned += raws.length;
      for (const b of parseAll(raws)) {
        if (found.length < limit && (!channels || channels.includes(b.channel))) found.push(b);
      }
      if (raws.length < batch) break;
    }
    return found;
  }

  /**
   * What a tab that last saw `afterId` missed in `channels` (all when null), oldest first; without
   * `afterId`, the newest `recentLimit`. `gap`: some it missed have left the history. `meter` counts the entries read.
   */
  async catchUp(afterId: string | null | undefined, channels: readonly string[] | null | undefined, recentLimit = 50, meter?: ScanMeter, readLimit = this.historySize): Promise<BroadcastCatchUp> {
    const [latestRaw, length] = await Promise.all([this.redis.get(this.keys.broadcastSeq), this.redis.llen(this.keys.broadcastHistory)]);
    const latestId = latestRaw ?? null;
    const follow = channels ?? undefined;
    if (!afterId || latestId === null) {
      return { broadcasts: (await this.recent(recentLimit, follow, meter)).reverse(), gap: false, latestId };
    }
    const latest = idNumber(latestId);
    const after = idNumber(afterId);
    if (after >= latest) return { broadcasts: [], gap: false, latestId };
    // Ids are consecutive, so the newest (latest - after) entries are exactly the ones missed.
    const missed = Number(latest - after);
    const oldestKept = latest - BigInt(length) + 1n;
    // The newest `readLimit` of them at most: a tab that missed more is told so (gap), as when history no longer has them.
    const read = Math.min(missed, this.historySize, Math.max(1, readLimit));
    const raws = await this.redis.lrange(this.keys.broadcastHistory, 0, read - 1);
    if (meter) meter.scanned += raws.length;
    const broadcasts = parseAll(raws)
      .filter((b) => idNumber(b.id) > after && (!follow || follow.includes(b.channel)))
      .reverse();
    return { broadcasts, gap: after + 1n < oldestKept || read < missed, latestId };
  }

  /** Channels that had broadcasts, most recently used first. */
  async channels(): Promise<string[]> {
    return this.redis.zrevrange(this.keys.broadcastChannels, 0, MAX_CHANNELS - 1);
  }

  private appendArgs(message: string, channel: string, source: BroadcastSource): string[] {
    return [
      this.keys.broadcastSeq,
      this.keys.broadcastHistory,
      this.keys.broadcastChannels,
      message,
      channel,
      source,
      new Date().toISOString(),
      String(this.historySize),
      this.keys.broadcastFanout,
      source === "redis" ? "" : this.channel,
    ];
  }
}

function parseAll(raws: string[]): Broadcast[] {
  return raws.flatMap((raw) => {
    const parsed = BroadcastSchema.safeParse(safeJson(raw));
    return parsed.success ? [parsed.data] : [];
  });
}

/** The scripts BroadcastLog defines on its Redis client. */
interface BroadcastScripts {
  taskcastAppendBroadcast(...args: Array<string | number>): Promise<string>;
}
