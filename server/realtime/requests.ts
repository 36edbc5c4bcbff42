// What every request a socket makes goes through: a per-connection event limit, a live session, and one
// answer (`{...}` or a clear `{error, code}`) on the event's acknowledgement.
import { canOperate } from "../../lib/auth";
import type { Authenticator } from "../auth/authenticator";
import type { RateLimiter } from "../access/token-bucket";
import { AppError, messageOf } from "../errors";
import type { Actor } from "../lifecycle/actor";
import { logClientError, type Logger } from "../logger";
import type { IoServer, IoSocket } from "./socket-server";

/**
 * Whose budget a socket spends: its user's or token's, over all its connections to this node. Without users
 * everyone is the same `local` operator on a loopback-only install, so there each connection has its own.
 */
export const clientOf = (socket: IoSocket): string => {
  const { principal } = socket.data;
  return principal.kind === "local" ? `socket:${socket.id}` : `${principal.kind}:${principal.name}`;
};

/** Events of any kind one user or token may send a second over all its sockets, and in a burst (the limiter's rate 0: no limit). */
export function limitEvents(io: IoServer, events: RateLimiter): void {
  io.on("connection", (socket) => {
    const client = clientOf(socket);
    socket.use(([event, ...args], next) => {
      if (events.take(client).allowed) return next();
      const ack = args.at(-1);
      const who = socket.data.principal.kind === "local" ? "this connection" : socket.data.principal.name;
      if (typeof ack === "function") ack({ error: `Too many socket events from ${who}: at most ${events.rate} a second (bursts of ${events.burst}), over all its connections. "${String(event)}" was not done; wait a moment.`, code: "rate_limited" });
    });
  });
}

/** Who the socket acts for, for the rules and the audit log. */
export const actorOf = (socket: IoSocket): Actor => ({ principal: socket.data.principal, ip: socket.data.ip, via: "socket" });

/** A socket opened with a session that has since ended may do nothing more. */
export async function assertSessionAlive(socket: IoSocket, auth: Authenticator): Promise<void> {
  if (socket.data.sessionId && !(await auth.sessions.alive(socket.data.sessionId))) {
    // Closed once the event's answer (this error) has gone out: an answer sent after the close is dropped.
    setImmediate(() => socket.disconnect(true));
    throw new AppError(401, "unauthenticated", "Your session has ended; sign in again.");
  }
}

/** The message for an event refused by assertSessionAlive (or by a failure to check it). */
export const sessionCheckError = (err: unknown): string => (err instanceof AppError ? err.message : "Could not check your sign-in; try again shortly.");

/** Operators only, with a live session. */
export async function mayOperate(socket: IoSocket, auth: Authenticator, what: string): Promise<void> {
  const principal = socket.data.principal;
  if (!canOperate(principal)) throw new AppError(403, "forbidden", `${principal.name} has the ${principal.role} role and may not ${what}; ask for the operator role.`);
  await assertSessionAlive(socket, auth);
}

/** Answers an event's acknowledgement with the work's result or a clear {error, code}; a client that sent no callback gets nothing. */
export function reply<T>(ack: unknown, work: () => Promise<T>, log: Logger): void {
  const respond = typeof ack === "function" ? (ack as (r: T | { error: string; code: string }) => void) : () => undefined;
  work().then(respond, (err: unknown) => {
    if (!(err instanceof AppError)) log.error({ err: messageOf(err) }, "socket request failed");
    else logClientError(log, err, { via: "socket" });
    respond(err instanceof AppError ? { error: err.message, code: err.code } : { error: "Internal error; the server log has the details.", code: "internal" });
  });
}
