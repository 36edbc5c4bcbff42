// Failed sign-ins per username, counted in Redis: the limit holds across addresses and web nodes.
import { createHash } from "node:crypto";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

const WINDOW_MS = 3_600_000;

/**
 * Counts one attempt; the window starts with the first (a count without an expiry gets one). A script, not
 * \`PEXPIRE … NX\`, which needs Redis 7.
 */
const TAKE = `local c = redis.call("INCR", KEYS[1])
if redis.call("PTTL", KEYS[1]) < 0 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return {c, redis.call("PTTL", KEYS[1])}`;

/** Takes back one attempt, unless its window has ended meanwhile (a DECR would make a count that never expires). */
const REFUND = `if redis.call("EXISTS", KEYS[1]) == 1 then return redis.call("DECR", KEYS[1]) end return 0`;

export class UsernameLimit {
  /** `perHour`: failed sign-ins one username may have in an hour (LOGIN_FAILURES_PER_USER_PER_HOUR). */
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    readonly perHour: number,
  ) {}

  /**
   * Counts an attempt for `username` before its password is checked (so concurrent guesses count too), and refuses
   * it past the limit, saying how many seconds are left of the window (an hour from its first attempt).
   * Unknown names are counted the same way, so the limit does not tell which names exist.
   */
  async take(username: string): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }> {
    const key = this.keyOf(username);
    const [count, leftMs] = (await this.redis.eval(TAKE, 1, key, WINDOW_MS)) as [number, number];
    if (count <= this.perHour) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(leftMs / 1000)) };
  }

  /** Takes back the attempt of a sign-in that succeeded, or that was never checked: only failures count. */
  async refund(username: string): Promise<void> {
    await this.redis.eval(REFUND, 1, this.keyOf(username));
  }

  // Hashed: what was typed may be a password in the wrong field.
  private keyOf(username: string): string {
    return this.keys.loginFailures(createHash("sha256").update(username, "utf8").digest("base64url").slice(0, 22));
  }
}
