// Sign-in sessions: a random id in Redis (shared by every web node, revocable), carried in a signed cookie.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

export const SESSION_COOKIE = "taskcast_session";

interface SessionData {
  user: string;
  createdAt: string;
  ip: string;
}

export interface Session extends SessionData {
  id: string;
}

export class SessionStore {
  private secret: Buffer | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** `idleMs`: a session ends this long after its last use (SESSION_TTL_HOURS); `maxMs`: this long after sign-in at most (SESSION_MAX_HOURS). */
    private readonly lifetime: { idleMs: number; maxMs: number },
    private readonly configuredSecret: string | undefined,
  ) {}

  /** Loads the signing secret: SESSION_SECRET, or one random secret that the first web node stores in Redis. */
  async init(): Promise<void> {
    if (this.configuredSecret) {
      this.secret = Buffer.from(this.configuredSecret, "utf8");
      return;
    }
    await this.redis.set(this.keys.sessionSecret, randomBytes(32).toString("base64url"), "NX");
    const shared = await this.redis.get(this.keys.sessionSecret);
    if (!shared) throw new Error("could not read the shared session secret from Redis");
    this.secret = Buffer.from(shared, "utf8");
  }

  /** The cookie's Max-Age at sign-in: the session cannot outlive it without use, nor ever outlive the absolute limit. */
  get maxAgeSeconds(): number {
    return Math.floor(Math.min(this.lifetime.idleMs, this.lifetime.maxMs) / 1000);
  }

  /** Starts a session and returns the cookie value to set. */
  async create(user: string, ip: string): Promise<{ session: Session; cookie: string }> {
    const id = randomBytes(24).toString("base64url");
    const data: SessionData = { user, createdAt: new Date().toISOString(), ip };
    await this.redis.set(this.keys.session(id), JSON.stringify(data), "PX", Math.min(this.lifetime.idleMs, this.lifetime.maxMs));
    return { session: { id, ...data }, cookie: `${id}.${this.sign(id)}` };
  }

  /**
   * The session a cookie value names, if its signature holds and it has not expired; each use extends it, but never
   * past SESSION_MAX_HOURS after sign-in: the key's expiry in Redis is cut to that too, so `alive()` agrees.
   */
  async resolve(cookie: string | undefined): Promise<Session | null> {
    const id = this.verify(cookie);
    if (!id) return null;
    const key = this.keys.session(id);
    const [[, raw], [, extended]] = (await this.redis.multi().get(key).pexpire(key, this.lifetime.idleMs).exec()) as [[unknown, string | null], [unknown, number]];
    if (!raw || extended !== 1) return null;
    let data: SessionData;
    try {
      data = JSON.parse(raw) as SessionData;
    } catch {
      return null;
    }
    const leftMs = Date.parse(data.createdAt) + this.lifetime.maxMs - Date.now();
    if (!(leftMs > 0)) {
      await this.redis.del(key);
      return null;
    }
    if (leftMs < this.lifetime.idleMs) await this.redis.pexpire(key, Math.ceil(leftMs));
    return { id, ...data };
  }

  /** Whether a session id is still signed in (for sockets opened with it). */
  async alive(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.session(id))) === 1;
  }

  /** Which of these session ids are still signed in: one round trip for any number (the sockets' periodic check). */
  async aliveMany(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.exists(this.keys.session(id));
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed) throw failed[0];
    return new Set(ids.filter((_, i) => replies[i]?.[1] === 1));
  }

  /** Ends a session (sign-out); its cookie stops working on every web node at once. */
  async destroy(cookie: string | undefined): Promise<Session | null> {
    const id = this.verify(cookie);
    if (!id) return null;
    const raw = await this.redis.getdel(this.keys.session(id));
    return raw ? { id, ...(JSON.parse(raw) as SessionData) } : null;
  }

  private sign(id: string): string {
    if (!this.secret) throw new Error("SessionStore.init() was not called");
    return createHmac("sha256", this.secret).update(id).digest("base64url");
  }

  private verify(cookie: string | undefined): string | null {
    if (!cookie) return null;
    const dot = cookie.indexOf(".");
    if (dot <= 0) return null;
    const id = cookie.slice(0, dot);
    const given = Buffer.from(cookie.slice(dot + 1), "utf8");
    const expected = Buffer.from(this.sign(id), "utf8");
    return given.length === expected.length && timingSafeEqual(given, expected) ? id : null;
  }
}
