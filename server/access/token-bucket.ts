// Token buckets: how many requests (HTTP calls, socket events, broadcasts) a client may make a second, with bursts.

/** Takes one token if the bucket has one, refilling `rate` a second up to `burst`. */
export function takeToken(bucket: { tokens: number; refilledAt: number }, now: number, rate: number, burst: number): boolean {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * rate);
  bucket.refilledAt = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}


/**
 * Requests outside the API (pages and their assets, /healthz, /metrics) one address may make, as a multiple of
 * API_RATE and API_BURST: a light limit, well above what a browser loading the dashboard needs.
 */
export const ADDRESS_RATE_FACTOR = 4;

/** Full buckets are forgotten every this many calls. */
const SWEEP_EVERY = 1000;

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; refilledAt: number }>();
  private calls = 0;

  /** `rate` tokens a second up to `burst`; a rate of 0 turns the limiter off. */
  constructor(
    readonly rate: number,
    readonly burst: number,
  ) {}

  /** Takes a token for `client`; when none is left, says how many whole seconds until one is. */
  take(client: string, now = Date.now()): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    if (this.rate === 0) return { allowed: true };
    if (++this.calls % SWEEP_EVERY === 0) this.sweep(now);
    let bucket = this.buckets.get(client);
    if (!bucket) {
      bucket = { tokens: this.burst, refilledAt: now };
      this.buckets.set(client, bucket);
    }
    if (takeToken(bucket, now, this.rate, this.burst)) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate)) };
  }

  /** Tokens `client` has now, whole or not (Infinity when the limiter is off); what a request may still spend. */
  available(client: string, now = Date.now()): number {
    if (this.rate === 0) return Infinity;
    const bucket = this.buckets.get(client);
    if (!bucket) return this.burst;
    return Math.min(this.burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.rate);
  }

  /**
   * Takes `tokens` more from `client` for work its request has done (records read), even below zero: a client
   * in debt is refused until the refill has paid it back.
   */
  charge(client: string, tokens: number, now = Date.now()): void {
    if (this.rate === 0 || tokens <= 0) return;
    const bucket = this.buckets.get(client) ?? { tokens: this.burst, refilledAt: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.rate) - tokens;
    bucket.refilledAt = now;
    this.buckets.set(client, bucket);
  }

  /** Gives `client` back `tokens` taken ahead of work not done, up to the bucket's size. */
  refund(client: string, tokens: number, now = Date.now()): void {
    const bucket = this.buckets.get(client);
    if (this.rate === 0 || tokens <= 0 || !bucket) return;
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.rate + tokens);
    bucket.refilledAt = now;
  }

  private sweep(now: number): void {
    // Forgotten only once full again: a bucket in debt stays until the refill has paid it back.
    for (const [client, bucket] of this.buckets) if (bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.rate >= this.burst) this.buckets.delete(client);
  }
}
