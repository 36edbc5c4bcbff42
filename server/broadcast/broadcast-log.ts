// The broadcast log: every broadcast gets the next id, lands in the bounded history and is fanned out, in one atomic step.
import { BroadcastSchema, type Broadcast, type BroadcastSource } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

// Atomic, so ids, history order and fan-out order are the same for every node.
// Broadcasts from the dashboard and the API are also echoed, stamped, on the public channel, so outside
// subscribers see every broadcast once (messages published there by outside services are not echoed).
const APPEND = `
local id = redis.call('INCR', KEYS[1])
local b = cjson.encode({id = tostring(id), message = ARGV[1], source = ARGV[2], at = ARGV[3]})
redis.call('LPUSH', KEYS[2], b)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
redis.call('PUBLISH', ARGV[5], b)
if ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], b) end
return b
`;

/** Channel on which web nodes receive stamped broadcasts to deliver to their own tabs. */
export const fanoutChannel = (channel: string) => `${channel}:fanout`;

export class BroadcastLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly channel: string,
    private readonly historySize: number,
  ) {}

  async append(message: string, source: BroadcastSource): Promise<Broadcast> {
    const raw = (await this.redis.eval(
      APPEND,
      2,
      this.keys.broadcastSeq,
      this.keys.broadcastHistory,
      message,
      source,
      new Date().toISOString(),
      String(this.historySize),
      fanoutChannel(this.channel),
      source === "redis" ? "" : this.channel,
    )) as string;
    return BroadcastSchema.parse(JSON.parse(raw));
  }

  /** Newest first. */
  async recent(limit: number): Promise<Broadcast[]> {
    const raws = await this.redis.lrange(this.keys.broadcastHistory, 0, limit - 1);
    return raws.flatMap((raw) => {
      const parsed = BroadcastSchema.safeParse(safeJson(raw));
      return parsed.success ? [parsed.data] : [];
    });
  }
}
