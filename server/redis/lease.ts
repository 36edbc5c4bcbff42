// A short Redis lease that one process at a time holds (SET NX with a token and a TTL), renewed while it lives:
// how a job that must run on exactly one web node picks that node, and hands over when it stops or dies.
import { randomUUID } from "node:crypto";
import type { Redis } from "./connect";

/** Extends the lease if `token` still holds it: 1, else 0. KEYS: the lease. ARGV: token, TTL (ms). */
export const RENEW_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
/** Gives the lease up if `token` holds it. KEYS: the lease. ARGV: token. */
export const RELEASE_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class Lease {
  /** This holder's token: a new one at each takeover, so a write fenced on an earlier term fails. */
  private token = "";
  private held = false;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly ttlMs: number,
  ) {}

  /** Whether this process held the lease at its last check. */
  get isHeld(): boolean {
    return this.held;
  }

  /** The token of the current term (to fence writes in a script: `GET key == token`); "" when not held. */
  get currentToken(): string {
    return this.held ? this.token : "";
  }

  /** Renews the lease if held, otherwise tries to take it; resolves whether it is held now. Throws on a Redis error. */
  async check(): Promise<{ held: boolean; changed: boolean }> {
    const before = this.held;
    try {
      if (this.held) this.held = (await this.redis.eval(RENEW_LEASE, 1, this.key, this.token, String(this.ttlMs))) === 1;
      else {
        const token = randomUUID();
        this.held = (await this.redis.set(this.key, token, "PX", this.ttlMs, "NX")) === "OK";
        if (this.held) this.token = token;
      }
    } catch (err) {
      this.held = false;
      throw err;
    }
    return { held: this.held, changed: this.held !== before };
  }

  /** Gives the lease up at once (another process takes it at its next check); never throws. */
  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await this.redis.eval(RELEASE_LEASE, 1, this.key, this.token).catch(() => undefined);
  }
}
