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

/** Buckets idle this long are full again and can be forgotten. */
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

  private sweep(now: number): void {
    const refillMs = (this.burst / this.rate) * 1000;
    for (const [client, bucket] of this.buckets) if (now - bucket.refilledAt > refillMs) this.buckets.delete(client);
  }
}
