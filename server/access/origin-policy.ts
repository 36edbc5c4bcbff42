// Where requests may come from: this machine's own names and the listed hosts, and the origins a browser may act from.

/** Whether a host name or address is this machine's loopback (reachable only from this machine). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A Host header's (or a host list entry's) name and port; the port is "" when none is given. Null: not a host. */
export function parseHost(raw: string): { name: string; port: string } | null {
  if (raw.includes("*")) return null; // a wildcard is never a host
  try {
    const url = new URL(`http://${raw}`);
    if (url.host.toLowerCase() !== raw.toLowerCase().replace(/:80$/, "") || url.username || url.password) return null;
    return { name: url.hostname, port: /:(\d+)$/.exec(raw)?.[1] ?? "" };
  } catch {
    return null;
  }
}

/**
 * The Host names an unauthenticated node answers to besides its loopback names: ALLOWED_HOSTS, the hosts of the
 * origins listed in ALLOWED_ORIGINS (never `*`), and HOST itself when it is one address or name (not 0.0.0.0 or ::).
 */
export function hostAllowlist(host: string, allowedHosts: readonly string[], allowedOrigins: readonly string[]): string[] {
  const own = host === "0.0.0.0" || host === "::" ? [] : [host.includes(":") && !host.startsWith("[") ? `[${host}]` : host];
  return [...own, ...allowedHosts, ...allowedOrigins.filter((o) => o !== "*").map((o) => new URL(o).host)];
}

/**
 * Whether a Host header names this machine or a host in `allowlist` (see hostAllowlist): stops DNS rebinding,
 * where a page on the attacker's name reaches this node through the visitor's browser. An entry without a port
 * allows every port of its name; one with a port, only the Host header naming that port. `*` allows nothing here.
 */
export function hostAllowed(host: string | undefined, allowlist: readonly string[]): boolean {
  const parsed = host ? parseHost(host) : null;
  if (!parsed) return false;
  const name = parsed.name === "[::1]" ? "::1" : parsed.name;
  if (isLoopbackHost(name) || name.endsWith(".localhost")) return true;
  return allowlist.some((entry) => {
    const allowed = parseHost(entry);
    return allowed !== null && allowed.name === parsed.name && (allowed.port === "" || allowed.port === parsed.port);
  });
}

/**
 * Whether a browser on `origin` may act here: the node's own origin (same scheme, host and port as the request,
 * `https` saying whether it came over HTTPS), one listed in `allowed`, or any with `*`. Clients that send no
 * Origin are not browsers, so cross-site request forgery does not apply to them.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, https: boolean, allowed: readonly string[]): boolean {
  if (!origin) return true;
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  if (!host) return false;
  try {
    return new URL(origin).origin === new URL(`${https ? "https" : "http"}://${host}`).origin;
  } catch {
    return false;
  }
}

/**
 * Why `origin` was refused, when the reason is likely a set-up one: it names this very host over HTTPS while the
 * request seems to have come over plain HTTP (a TLS proxy in front, without TRUST_PROXY). Null otherwise.
 */
export function originHint(origin: string, host: string | undefined, https: boolean): string | null {
  try {
    const url = new URL(origin);
    if (https || url.protocol !== "https:" || host === undefined || url.host !== new URL(`https://${host}`).host) return null;
    return "This node sees the request as plain HTTP; if a proxy in front terminates TLS, set TRUST_PROXY=true so that it reads X-Forwarded-Proto.";
  } catch {
    return null;
  }
}
