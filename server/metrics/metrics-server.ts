// The worker's small HTTP server: GET /metrics (Prometheus) and GET /healthz, nothing else.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { clientAddress } from "../access/client-address";
import { hostAllowed } from "../access/origin-policy";
import type { RateLimiter } from "../access/token-bucket";
import type { Credentials } from "../auth/credentials";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import { addressKey } from "../access/address-group";

/** Writes a registry's metrics in the Prometheus text format. */
export async function sendMetrics(registry: Registry, res: ServerResponse): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { "Content-Type": registry.contentType, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" });
  res.end(text);
}

/**
 * Serves the registry on `host:port`, under the web nodes' rules: with users configured, /metrics needs a service
 * token (any role); without them, only the allowed Host names are answered. Failed tokens count against their
 * address in `failures`, and every request in `perAddress`. A port already taken (another worker on this machine)
 * falls back to a free one, logged.
 */
export async function startMetricsServer(options: {
  registry: Registry;
  host: string;
  port: number;
  credentials: Credentials;
  /** Without users: the Host names answered besides loopback ones (hostAllowlist). Null: any. */
  allowedHosts: readonly string[] | null;
  /** Proxies in front (TRUST_PROXY), for the client address. */
  trustedHops: number;
  failures: RateLimiter;
  perAddress: RateLimiter;
  healthy: () => boolean;
  log: Logger;
}): Promise<{ url: string; close(): Promise<void> }> {
  const { registry, credentials, log } = options;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const text = (status: number, body: string, headers: Record<string, string> = {}) =>
      res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", ...headers }).end(body);
    const ip = clientAddress(req.headers, req.socket.remoteAddress, options.trustedHops);
    const limited = (limiter: RateLimiter) => {
      const verdict = limiter.take(addressKey(ip));
      if (verdict.allowed) return false;
      text(429, `Too many requests from your address: at most ${limiter.rate} a second (bursts of ${limiter.burst}). Try again in ${verdict.retryAfterSeconds} s.\n`, { "Retry-After": String(verdict.retryAfterSeconds) });
      return true;
    };
    if (options.allowedHosts && !hostAllowed(req.headers.host, options.allowedHosts)) {
      return text(403, `This worker has no users configured, so it answers only to localhost and the names in ALLOWED_HOSTS, not to "${req.headers.host ?? ""}". Add the name to ALLOWED_HOSTS if it is this worker's, or configure users and tokens.\n`);
    }
    if (limited(options.perAddress)) return;
    if (req.method !== "GET") return text(405, "Only GET is served here.\n", { Allow: "GET" });
    if (path === "/healthz") return options.healthy() ? text(200, "ok\n") : text(503, "RabbitMQ or Redis is unreachable\n");
    if (path !== "/metrics") return text(404, "Not found: this worker serves GET /metrics and GET /healthz.\n");
    if (credentials.authRequired) {
      const token = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? "")?.[1];
      if (!token || !credentials.checkToken(token)) {
        if (limited(options.failures)) return;
        return text(401, "Send Authorization: Bearer <token> with a token from TASKCAST_TOKENS.\n", { "WWW-Authenticate": 'Bearer realm="taskcast"' });
      }
    }
    sendMetrics(registry, res).catch((err: unknown) => {
      log.warn({ err: messageOf(err) }, "metrics could not be collected");
      if (!res.headersSent) text(500, "Metrics could not be collected; the worker log has the details.\n");
    });
  };
  const server = createServer(handler);
  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, options.host, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  try {
    await listen(options.port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || options.port === 0) throw err;
    await listen(0);
    log.warn(
      { wanted: options.port, port: (server.address() as AddressInfo).port },
      "WORKER_METRICS_PORT is taken (another worker on this machine?); serving metrics on a free port instead. Give each worker its own port to scrape it reliably.",
    );
  }
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
