// What every HTTP request passes before the API or a page sees it: security headers, the Host check of a
// loopback-only install, who the client is, sign-in for pages and the API, cross-site checks and rate limits.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { ApiErrorBody } from "../../lib/contract";
import { SESSION_HEADER, type Principal, type SessionInfo } from "../../lib/auth";
import type { Authenticator } from "../auth/authenticator";
import type { Session } from "../auth/sessions";
import { AppError } from "../errors";
import type { Actor } from "../lifecycle/actor";
import { hostAllowed, originAllowed, originHint } from "../access/origin-policy";
import { addressKey } from "../access/address-group";
import type { RequestCost } from "../access/scan-cost";
import type { RateLimiter } from "../access/token-bucket";
import { sendJson } from "./respond";
import { API_CSP, newNonce, pageCsp, setSecurityHeaders } from "./security-headers";

/** What the API and pages know about the request once it passed the guard. */
export interface RequestContext {
  principal: Principal | null;
  session: Session | null;
  ip: string;
  https: boolean;
  /** The client's rate-limit budget: routes that read many records charge it for them. */
  cost: RequestCost;
}

/** Who makes an HTTP request, for the rules and the audit log (routes past the access check have a principal). */
export const actorOf = (ctx: RequestContext): Actor => ({ principal: ctx.principal!, ip: ctx.ip, via: "http" });


const PUBLIC_PATHS = new Set(["/healthz", "/api/auth/login", "/api/auth/session", "/api/auth/logout", "/login", "/icon.svg", "/favicon.ico"]);
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export interface GuardOptions {
  auth: Authenticator;
  /** The API's, per client; authentication failures anywhere count against their address's bucket in it. */
  limiter: RateLimiter;
  /** Everything outside /api/ (pages and their assets, /healthz, /metrics), per address. */
  addressLimiter: RateLimiter;
  allowedOrigins: readonly string[];
  /** Without users: the Host names answered besides loopback ones (hostAllowlist), which stops DNS rebinding. Null: any. */
  allowedHosts: readonly string[] | null;
  dev: boolean;
}

export function createRequestGuard(options: GuardOptions) {
  const { auth, limiter, allowedOrigins } = options;

  /** Returns the request's context, or null when it has already answered (refused or redirected). */
  return async function guard(req: IncomingMessage, res: ServerResponse): Promise<RequestContext | null> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const isApi = url.pathname === "/healthz" || url.pathname === "/metrics" || url.pathname.startsWith("/api/");
    const https = auth.isHttps(req.headers, Boolean((req.socket as TLSSocket).encrypted));
    const ip = auth.clientIp(req.headers, req.socket.remoteAddress);
    delete req.headers[SESSION_HEADER];
    if (isApi) {
      setSecurityHeaders(res, API_CSP, https);
    } else {
      const csp = pageCsp(newNonce(), req.headers.host, options.dev);
      setSecurityHeaders(res, csp, https);
      // Next.js takes the nonce for its scripts from the request's policy header.
      req.headers["content-security-policy"] = csp;
    }

    try {
      if (options.allowedHosts && !hostAllowed(req.headers.host, options.allowedHosts)) {
        throw new AppError(
          403,
          "host_not_allowed",
          `This Taskcast has no users configured, so it answers only to localhost and the names in ALLOWED_HOSTS, not to "${req.headers.host ?? ""}". Add the name to ALLOWED_HOSTS if it is this server's, or configure users (see the README's security section).`,
        );
      }
      if (!url.pathname.startsWith("/api/")) limit(options.addressLimiter, addressKey(ip), res, "from one address");
      const identity = await auth.identify(req.headers).catch((err: unknown) => {
        // Wrong tokens, on any path, count against the address's rate limit too, so guessing them is throttled.
        if (err instanceof AppError) limit(limiter, addressKey(ip), res);
        throw err;
      });
      const isPublic = PUBLIC_PATHS.has(url.pathname) || url.pathname.startsWith("/_next/");
      if (!identity.principal && !isPublic) {
        if (!isApi) {
          const next = url.pathname + url.search;
          res.writeHead(303, { Location: `/login?next=${encodeURIComponent(next)}`, "Cache-Control": "no-store" }).end();
          return null;
        }
        limit(limiter, addressKey(ip), res);
        throw new AppError(401, "unauthenticated", "Sign in first, or send Authorization: Bearer <token> (see the README's security section).");
      }
      if (isApi && !SAFE_METHODS.has(req.method ?? "GET") && identity.via !== "token") {
        checkSameOrigin(req, identity.via === "cookie", https);
      }
      const client = identity.principal && identity.principal.kind !== "local" ? `${identity.principal.kind}:${identity.principal.name}` : addressKey(ip);
      if (url.pathname.startsWith("/api/")) limit(limiter, client, res);
      req.headers[SESSION_HEADER] = JSON.stringify({ authRequired: auth.authRequired, principal: identity.principal } satisfies SessionInfo);
      const cost: RequestCost = { available: () => limiter.available(client), charge: (tokens) => limiter.charge(client, tokens), refund: (tokens) => limiter.refund(client, tokens) };
      return { principal: identity.principal, session: identity.session, ip, https, cost };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="taskcast"');
      if (isApi) sendJson(res, err.status, { error: err.message, code: err.code } satisfies ApiErrorBody);
      else res.writeHead(err.status, { "Content-Type": "text/plain; charset=utf-8" }).end(err.message);
      return null;
    }
  };

  /** Takes a token from the client's bucket, or throws 429 with Retry-After. */
  function limit(from: RateLimiter, client: string, res: ServerResponse, per = "per client"): void {
    const verdict = from.take(client);
    if (verdict.allowed) return;
    res.setHeader("Retry-After", String(verdict.retryAfterSeconds));
    throw new AppError(429, "rate_limited", `Too many requests: at most ${from.rate} a second (bursts of ${from.burst}) ${per}. Try again in ${verdict.retryAfterSeconds} s.`);
  }

  /**
   * Cross-site request forgery: a browser request that changes something must come from the dashboard's own
   * origin or a listed one. With a session cookie the Origin (or Referer) must be present; without one (the
   * loopback-only mode) a request that names a foreign origin is still refused.
   */
  function checkSameOrigin(req: IncomingMessage, cookie: boolean, https: boolean): void {
    const origin = req.headers.origin ?? refererOrigin(req.headers.referer);
    if (origin === undefined) {
      if (cookie) throw new AppError(403, "cross_site", "A signed-in request that changes something must carry an Origin header; browsers send one, other clients should use a Bearer token.");
      return;
    }
    if (!originAllowed(origin, req.headers.host, https, allowedOrigins)) {
      const hint = originHint(origin, req.headers.host, https);
      throw new AppError(403, "cross_site", `Requests from ${origin} may not change anything here (cross-site request forgery protection). ${hint ?? "List the origin in ALLOWED_ORIGINS if it is yours."}`);
    }
  }
}

function refererOrigin(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return "null";
  }
}
