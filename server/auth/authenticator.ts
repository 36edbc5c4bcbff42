// Works out who a request or a socket handshake acts for: a Bearer token, a session cookie, or the local operator.
import { parseCookie } from "cookie";
import type { IncomingHttpHeaders } from "node:http";
import type { Principal } from "../../lib/auth";
import { clientAddress } from "../access/client-address";
import { AppError } from "../errors";
import type { Credentials } from "./credentials";
import { SESSION_COOKIE, type Session, type SessionStore } from "./sessions";

/** Everyone on a loopback-only Taskcast with no users configured. */
export const LOCAL_OPERATOR: Principal = { kind: "local", name: "local", role: "operator" };

export interface Identity {
  principal: Principal | null;
  /** The session behind a cookie-authenticated principal. */
  session: Session | null;
  /** How the principal was established: state changes by cookie are checked against CSRF, by token they are not. */
  via: "token" | "cookie" | "none";
}

export const unauthenticated = (message = "Sign in first, or send Authorization: Bearer <token> (see the README's security section).") =>
  new AppError(401, "unauthenticated", message);

export class Authenticator {
  constructor(
    readonly credentials: Credentials,
    readonly sessions: SessionStore,
    /** Reverse proxies in front that append to X-Forwarded-For (TRUST_PROXY); 0: none. */
    private readonly trustedHops: number,
  ) {}

  get authRequired(): boolean {
    return this.credentials.authRequired;
  }

  /**
   * The identity behind request headers (or a socket handshake, whose `token` stands in for the header).
   * A token that is presented but wrong is an error, never a silent fall back to anonymous.
   */
  async identify(headers: IncomingHttpHeaders, handshakeToken?: unknown): Promise<Identity> {
    const authorization = headers.authorization;
    let token: string | undefined;
    if (authorization !== undefined) {
      const match = /^Bearer +(\S+) *$/i.exec(authorization);
      if (!match) throw unauthenticated("The Authorization header must be `Bearer <token>`.");
      token = match[1];
    } else if (handshakeToken !== undefined) {
      if (typeof handshakeToken !== "string") throw unauthenticated("The handshake's auth.token must be a string.");
      token = handshakeToken;
    }
    if (token !== undefined) {
      const principal = this.credentials.checkToken(token);
      if (!principal) throw unauthenticated("The Bearer token is not valid; check the token configured in TASKCAST_TOKENS.");
      return { principal, session: null, via: "token" };
    }
    const cookie = headers.cookie ? parseCookie(headers.cookie)[SESSION_COOKIE] : undefined;
    if (cookie && this.authRequired) {
      const session = await this.sessions.resolve(cookie);
      const principal = session ? this.credentials.user(session.user) : null;
      if (session && principal) return { principal, session, via: "cookie" };
    }
    return { principal: this.authRequired ? null : LOCAL_OPERATOR, session: null, via: "none" };
  }

  /** The client's address: the socket's, or the one the trusted proxies recorded in X-Forwarded-For (TRUST_PROXY). */
  clientIp(headers: IncomingHttpHeaders, remoteAddress: string | undefined): string {
    return clientAddress(headers, remoteAddress, this.trustedHops);
  }

  /** Whether the request reached us over HTTPS (directly, or per X-Forwarded-Proto behind a trusted proxy). */
  isHttps(headers: IncomingHttpHeaders, encrypted: boolean): boolean {
    if (encrypted) return true;
    const proto = headers["x-forwarded-proto"];
    return this.trustedHops > 0 && (Array.isArray(proto) ? proto[0] : proto)?.split(",")[0]?.trim() === "https";
  }
}
