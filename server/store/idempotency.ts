// Idempotency-Key bookkeeping: a repeated key within 24 hours returns the task the first request made, once
// RabbitMQ has confirmed that task. A claim is pending until then, and only a confirmed claim replays.
import { createHash } from "node:crypto";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

/** How long a confirmed key is remembered. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/**
 * How long a pending claim lives if nobody confirms or releases it (its web node died between claiming the key
 * and hearing from RabbitMQ): the key is free again after that, not blocked for a day.
 */
export const PENDING_TTL_SECONDS = 60;

/** `partial`: RabbitMQ took some of a batch's tasks and refused the others; the key is spent. */
export type ClaimState = "pending" | "confirmed" | "partial";
export type Reservation = { reserved: true } | { reserved: false; taskId: string; sameRequest: boolean; state: ClaimState };

// A claim's value: "<fingerprint> <taskId> <state>" (claims written before states existed have no state: confirmed).
const parse = (value: string): { fingerprint: string; taskId: string; state: ClaimState } => {
  const [fingerprint = "", taskId = "", state] = value.split(" ");
  return { fingerprint, taskId, state: state === "pending" || state === "partial" ? state : "confirmed" };
};

// Changes a claim only while it names this task ("extend" and "partial" only while it is pending).
// ARGV: task id, "confirm" | "release" | "extend" | "partial", TTL seconds.
const SETTLE = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local fp, id, state = string.match(v, '^(%S+) (%S+) ?(%S*)$')
if id ~= ARGV[1] then return 0 end
if ARGV[2] == 'release' then return redis.call('DEL', KEYS[1]) end
if (ARGV[2] == 'extend' or ARGV[2] == 'partial') and state ~= 'pending' then return 0 end
local next = ARGV[2] == 'confirm' and 'confirmed' or ARGV[2] == 'partial' and 'partial' or 'pending'
redis.call('SET', KEYS[1], fp .. ' ' .. id .. ' ' .. next, 'EX', tonumber(ARGV[3]))
return 1
`;

export class IdempotencyKeys {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Claims `key` for `taskId` (pending), or reports the claim made first and its state. `fingerprint`
   * identifies the request body, so reusing a key for a different request is caught.
   */
  async reserve(key: string, fingerprint: string, taskId: string): Promise<Reservation> {
    const redisKey = this.keys.idempotency(hash(key));
    const claimed = await this.redis.set(redisKey, `${fingerprint} ${taskId} pending`, "EX", PENDING_TTL_SECONDS, "NX");
    if (claimed === "OK") return { reserved: true };
    const value = await this.redis.get(redisKey);
    // Expired between the two calls: claim again.
    if (!value) return this.reserve(key, fingerprint, taskId);
    const stored = parse(value);
    return { reserved: false, taskId: stored.taskId, sameRequest: stored.fingerprint === fingerprint, state: stored.state };
  }

  /** The state of the claim task `taskId` holds on `key` (undefined: none, or another task's). */
  async state(key: string, taskId: string): Promise<ClaimState | undefined> {
    const value = await this.redis.get(this.keys.idempotency(hash(key)));
    if (!value) return undefined;
    const stored = parse(value);
    return stored.taskId === taskId ? stored.state : undefined;
  }

  /** RabbitMQ confirmed the task: the key replays it for 24 hours. */
  async confirm(key: string, taskId: string): Promise<void> {
    await this.redis.eval(SETTLE, 1, this.keys.idempotency(hash(key)), taskId, "confirm", IDEMPOTENCY_TTL_SECONDS);
  }

  /** The task's fate is not known yet and may stay unknown for long (RabbitMQ has not answered): keep the claim pending for 24 hours. */
  async extend(key: string, taskId: string): Promise<void> {
    await this.redis.eval(SETTLE, 1, this.keys.idempotency(hash(key)), taskId, "extend", IDEMPOTENCY_TTL_SECONDS);
  }

  /** RabbitMQ took some of the batch's tasks and refused others: the key answers so for 24 hours, and never queues again. */
  async partial(key: string, batchId: string): Promise<void> {
    await this.redis.eval(SETTLE, 1, this.keys.idempotency(hash(key)), batchId, "partial", IDEMPOTENCY_TTL_SECONDS);
  }

  /**
   * Forgets the claim task `taskId` made on `key` (its task was not accepted), so the client can try again
   * with the same key; a claim another request holds is left alone.
   */
  async release(key: string, taskId: string): Promise<void> {
    await this.redis.eval(SETTLE, 1, this.keys.idempotency(hash(key)), taskId, "release", 0);
  }
}

export const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 32);
