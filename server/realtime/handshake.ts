// A socket's handshake: the broadcast subscription and live streams it states, and who it acts for (session cookie or token).
import { SIGN_IN_REQUIRED } from "../../lib/auth";
import { HandshakeAuthSchema, selectedStreams } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import type { RateLimiter } from "../access/token-bucket";
import type { Authenticator } from "../auth/authenticator";
import { AppError } from "../errors";
import { sessionRoom, type IoServer } from "./socket-server";
import { addressKey } from "../access/address-group";

/**
 * Refuses a connection without a valid subscription, stream selection or sign-in; a signed-in one joins its session's
 * room. A refused sign-in takes a token from its address's bucket in `failures` (the HTTP API's limiter), as a wrong
 * token over HTTP does; past the limit the refusal says so, as HTTP answers 429.
 */
export function checkHandshakes(io: IoServer, auth: Authenticator, failures: RateLimiter): void {
  io.use((socket, next) => {
    const { token, ...rest } = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const parsed = HandshakeAuthSchema.safeParse(rest);
    if (!parsed.success) return next(new Error(`Invalid handshake: ${describeZodError(parsed.error)}. Send auth {channels?: string[] | null, lastBroadcastId?: string, streams?: string[] | null, token?: string}.`));
    const { streams, ...subscription } = parsed.data;
    socket.data.subscription = subscription;
    socket.data.streams = selectedStreams(streams);
    void (async () => {
      const ip = auth.clientIp(socket.request.headers, socket.request.socket.remoteAddress);
      let failure: string | null = null;
      let refused = false;
      try {
        const identity = await auth.identify(socket.request.headers, token);
        if (identity.principal) {
          socket.data.principal = identity.principal;
          socket.data.sessionId = identity.session?.id ?? null;
          socket.data.ip = ip;
        } else {
          failure = `${SIGN_IN_REQUIRED}: open the dashboard and sign in, or pass a service token as auth.token.`;
          refused = true;
        }
      } catch (err) {
        failure = err instanceof AppError ? err.message : "Could not check the sign-in; try again shortly.";
        refused = err instanceof AppError;
      }
      if (refused) {
        const verdict = failures.take(addressKey(ip));
        if (!verdict.allowed) failure += ` Too many failed sign-ins from this address: at most ${failures.rate} a second (bursts of ${failures.burst}); try again in ${verdict.retryAfterSeconds} s.`;
      }
      next(failure === null ? undefined : new Error(failure));
    })();
  });
  io.on("connection", (socket) => {
    socket.data.connectedAt = Date.now();
    // Signing out ends the session's sockets on every node.
    if (socket.data.sessionId) void socket.join(sessionRoom(socket.data.sessionId));
  });
}
