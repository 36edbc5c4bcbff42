// Where requests may come from: this machine's own names, and the origins a browser may act from.

/** Whether a host name or address is this machine's loopback (reachable only from this machine). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Whether a Host header names this machine (or an origin listed in ALLOWED_ORIGINS). */
export function loopbackHost(host: string | undefined, allowedOrigins: readonly string[]): boolean {
  if (!host) return false;
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    return false;
  }
  if (isLoopbackHost(hostname === "[::1]" ? "::1" : hostname) || hostname.endsWith(".localhost")) return true;
  return allowedOrigins.some((o) => o === "*" || new URL(o).host === host);
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
