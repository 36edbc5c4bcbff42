// Idempotency-Key bookkeeping: a repeated key within 24 hours returns the task the first request made.
import { createHash } from "node:crypto";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

/** How long a key is remembered. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

export type Reservation = { reserved: true } | { reserved: false; taskId: string; sameRequest: boolean };

// Deletes the claim only if it names this task (the value ends with " <taskId>").
const RELEASE = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, -#ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export class IdempotencyKeys {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Claims `key` for `taskId`, or reports the task that claimed it first. `fingerprint` identifies the
   * request body, so reusing a key for a different request is caught.
   */
  async reserve(key: string, fingerprint: string, taskId: string): Promise<Reservation> {
    const redisKey = this.keys.idempotency(hash(key));
    const claimed = await this.redis.set(redisKey, `${fingerprint} ${taskId}`, "EX", IDEMPOTENCY_TTL_SECONDS, "NX");
    if (claimed === "OK") return { reserved: true };
    const value = (await this.redis.get(redisKey)) ?? "";
    const [storedFingerprint = "", storedId = ""] = value.split(" ");
    // Expired between the two calls: claim again.
    if (!storedId) return this.reserve(key, fingerprint, taskId);
    return { reserved: false, taskId: storedId, sameRequest: storedFingerprint === fingerprint };
  }

  /**
   * Forgets the claim task `taskId` made on `key` (its task was not accepted), so the client can try again
   * with the same key; a claim another request holds is left alone.
   */
  async release(key: string, taskId: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.keys.idempotency(hash(key)), ` ${taskId}`);
  }
}

export const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 32);
