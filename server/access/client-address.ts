// Who is on the other end of a connection: the socket's address, or the one the trusted proxies in front recorded.
import { isIP } from "node:net";
import type { IncomingHttpHeaders } from "node:http";

/**
 * The client's address. With `trustedHops` proxies in front (TRUST_PROXY), it is the X-Forwarded-For entry that
 * the outermost of them appended: the `trustedHops`-th from the right. Entries further left were sent by the
 * client itself and could be anything. Without trusted proxies, or without a usable entry, the socket's address.
 */
export function clientAddress(headers: IncomingHttpHeaders, remoteAddress: string | undefined, trustedHops: number): string {
  const socket = (remoteAddress ?? "unknown").replace(/^::ffff:/, "");
  if (trustedHops === 0) return socket;
  const header = headers["x-forwarded-for"];
  // Node joins repeated X-Forwarded-For headers with ", "; an array only comes from tests and other callers.
  const entries = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) return socket;
  // Fewer entries than hops: the left-most is as far as the proxies recorded.
  const chosen = entryAddress(entries[Math.max(0, entries.length - trustedHops)]).replace(/^::ffff:/, "");
  return isIP(chosen) ? chosen : socket;
}

/**
 * An X-Forwarded-For entry's address. Some load balancers append it with its port (`203.0.113.5:51234`) or, for
 * IPv6, in brackets (`[2001:db8::5]`, `[2001:db8::5]:443`): without this, every client behind such a proxy would
 * fall back to the proxy's own address and share one set of limits.
 */
function entryAddress(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed) return bracketed[1];
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  return withPort ? withPort[1] : entry;
}
