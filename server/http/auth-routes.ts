// Sign-in, sign-out, the current session, and the audit log's API.
import { parseCookie, stringifySetCookie } from "cookie";
import { AuditListQuerySchema, LoginRequestSchema, type Principal, type SessionInfo } from "../../lib/auth";
import { describeZodError } from "../../lib/zod-message";
import { budgeted, RECORDS_PER_TOKEN } from "../access/scan-cost";
import { AUDIT_SCAN_LIMIT, type AuditLog } from "../audit/audit-log";
import type { Authenticator } from "../auth/authenticator";
import type { PasswordChecker } from "../auth/password-checker";
import type { UsernameLimit } from "../auth/username-limit";
import { SESSION_COOKIE } from "../auth/sessions";
import { AppError, invalidInput } from "../errors";
import { readJsonBody } from "./body";
import { parseQuery, redisCall } from "./respond";
import type { Route } from "./router";
import { addressGroup } from "../access/address-group";
import { RateLimiter } from "../access/token-bucket";
import type { LiveEvents } from "../live-events";

const LOGIN_BODY_MAX = 4096;

export function authRoutes(deps: {
  auth: Authenticator;
  audit: AuditLog;
  cookieSecure: "auto" | "always" | "never";
  loginAttemptsPerMinute: number;
  /** Failed sign-ins per username, across addresses and web nodes. */
  usernameLimit: UsernameLimit;
  /** Where passwords are checked; refuses new checks when full. */
  passwords: PasswordChecker;
  /** Hears "session:ended": the sockets opened with that session close on every node. */
  live: LiveEvents;
}): Route[] {
  const { auth, audit, usernameLimit, passwords } = deps;
  const attempts = new RateLimiter(deps.loginAttemptsPerMinute / 60, deps.loginAttemptsPerMinute);
  const cookie = (value: string, maxAge: number, https: boolean) =>
    stringifySetCookie({ name: SESSION_COOKIE, value, httpOnly: true, sameSite: "lax", path: "/", maxAge, secure: deps.cookieSecure === "always" || (deps.cookieSecure === "auto" && https) });

  return [
    {
      method: "POST",
      pattern: /^\/api\/auth\/login$/,
      access: "public",
      handler: async (req, _url, _params, res, ctx) => {
        if (!auth.authRequired) throw new AppError(409, "no_users", "No users are configured: this Taskcast serves only on loopback and needs no sign-in.");
        const from = addressGroup(ctx.ip);
        const verdict = attempts.take(from);
        if (!verdict.allowed) {
          res.setHeader("Retry-After", String(verdict.retryAfterSeconds));
          throw new AppError(429, "rate_limited", `Too many sign-in attempts from ${from}: at most ${deps.loginAttemptsPerMinute} a minute. Try again in ${verdict.retryAfterSeconds} s.`);
        }
        const parsed = LoginRequestSchema.safeParse(await readJsonBody(req, LOGIN_BODY_MAX));
        if (!parsed.success) throw invalidInput(`Invalid sign-in: ${describeZodError(parsed.error)}.`);
        const { username, password } = parsed.data;
        const perUser = await redisCall(() => usernameLimit.take(username));
        if (!perUser.allowed) {
          res.setHeader("Retry-After", String(perUser.retryAfterSeconds));
          throw new AppError(429, "rate_limited", `Too many failed sign-ins for ${username}: at most ${usernameLimit.perHour} an hour. Try again in ${Math.ceil(perUser.retryAfterSeconds / 60)} min.`);
        }
        if (passwords.full) {
          void usernameLimit.refund(username).catch(() => undefined);
          res.setHeader("Retry-After", "1");
          throw new AppError(503, "busy", "Too many sign-ins are being checked at once; try again in 1 s.");
        }
        let principal: Principal | null;
        try {
          principal = await auth.credentials.checkPassword(username, password);
        } catch (err) {
          void usernameLimit.refund(username).catch(() => undefined);
          throw err;
        }
        if (principal) void usernameLimit.refund(username).catch(() => undefined);
        if (!principal) {
          // Only a configured name is written down: what was typed may be a password in the wrong field.
          const known = auth.credentials.user(username) !== null;
          void audit.record({
            action: "auth.login_failed",
            actor: { kind: "anonymous", name: known ? username : "(unknown user)", role: null },
            target: known ? username : null,
            detail: known ? "wrong password" : "no such user",
            ip: ctx.ip,
            via: "http",
          });
          throw new AppError(401, "wrong_credentials", "Wrong username or password.");
        }
        const { cookie: value } = await redisCall(() => auth.sessions.create(principal.name, ctx.ip));
        res.setHeader("Set-Cookie", cookie(value, auth.sessions.maxAgeSeconds, ctx.https));
        void audit.record({ action: "auth.login", actor: principal, target: principal.name, detail: null, ip: ctx.ip, via: "http" });
        return [200, { authRequired: true, principal } satisfies SessionInfo];
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/auth\/logout$/,
      access: "public",
      handler: async (req, _url, _params, res, ctx) => {
        const value = req.headers.cookie ? parseCookie(req.headers.cookie)[SESSION_COOKIE] : undefined;
        const session = auth.authRequired ? await redisCall(() => auth.sessions.destroy(value)) : null;
        if (value) res.setHeader("Set-Cookie", cookie("", 0, ctx.https));
        if (session) {
          deps.live.emit("session:ended", session.id);
          const principal = auth.credentials.user(session.user) ?? { kind: "anonymous" as const, name: session.user, role: null };
          void audit.record({ action: "auth.logout", actor: principal, target: session.user, detail: null, ip: ctx.ip, via: "http" });
        }
        return [200, { authRequired: auth.authRequired, principal: null } satisfies SessionInfo];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/auth\/session$/,
      access: "public",
      handler: async (_req, _url, _params, _res, ctx) => [200, { authRequired: auth.authRequired, principal: ctx.principal } satisfies SessionInfo],
    },
    {
      method: "GET",
      pattern: /^\/api\/audit$/,
      handler: async (_req, url, _params, _res, ctx) => {
        // Parsed outside redisCall, which would report a bad query as Redis being unreachable.
        const query = parseQuery(AuditListQuerySchema, url);
        // A filter that matches little reads many entries: it reads what the client's rate limit affords, and pays for it.
        return [200, await budgeted(ctx.cost, RECORDS_PER_TOKEN.audit, AUDIT_SCAN_LIMIT, (scanLimit, meter) => redisCall(() => audit.list(query, { scanLimit, meter })))];
      },
    },
  ];
}
