// Per-connection limits on the socket: a token bucket for broadcasts and the Origin check.

/** Takes one token if the bucket has one, refilling `rate` a second up to `burst`. */
export function takeToken(bucket: { tokens: number; refilledAt: number }, now: number, rate: number, burst: number): boolean {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * rate);
  bucket.refilledAt = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/**
 * Whether a browser on `origin` may connect: its own origin (same host as the request), one listed in
 * `allowed`, or any with `*`. Clients that send no Origin are not browsers, so cross-site request
 * forgery does not apply to them.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (!origin) return true;
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
