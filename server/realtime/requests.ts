// What every request a socket makes goes through: a per-connection event limit, a live session, and one
// answer (`{...}` or a clear `{error, code}`) on the event's acknowledgement.
import { canOperate } from "../../lib/auth";
import type { Authenticator } from "../auth/authenticator";
import { takeToken } from "../access/token-bucket";
import { AppError, messageOf } from "../errors";
import type { Actor } from "../lifecycle/actor";
import type { Logger } from "../logger";
import type { IoServer, IoSocket } from "./socket-server";

/** Events of any kind one connection may send a second, and in a burst (0: no limit). */
export function limitEvents(io: IoServer, rate: number, burst: number): void {
  io.on("connection", (socket) => {
    const events = { tokens: burst, refilledAt: Date.now() };
    socket.use(([event, ...args], next) => {
      if (rate === 0 || takeToken(events, Date.now(), rate, burst)) return next();
      const ack = args.at(-1);
      if (typeof ack === "function") ack({ error: `Too many requests on this connection: at most ${rate} a second (bursts of ${burst}). "${String(event)}" was not done; wait a moment.`, code: "rate_limited" });
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
    respond(err instanceof AppError ? { error: err.message, code: err.code } : { error: "Internal error; the server log has the details.", code: "internal" });
  });
}
