// A socket's handshake: the broadcast subscription and live streams it states, and who it acts for (session cookie or token).
import { SIGN_IN_REQUIRED } from "../../lib/auth";
import { HandshakeAuthSchema, selectedStreams } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import type { Authenticator } from "../auth/authenticator";
import { AppError } from "../errors";
import { sessionRoom, type IoServer } from "./socket-server";

/** Refuses a connection without a valid subscription, stream selection or sign-in; a signed-in one joins its session's room. */
export function checkHandshakes(io: IoServer, auth: Authenticator): void {
  io.use((socket, next) => {
    const { token, ...rest } = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const parsed = HandshakeAuthSchema.safeParse(rest);
    if (!parsed.success) return next(new Error(`Invalid handshake: ${describeZodError(parsed.error)}. Send auth {channels?: string[] | null, lastBroadcastId?: string, streams?: string[] | null, token?: string}.`));
    const { streams, ...subscription } = parsed.data;
    socket.data.subscription = subscription;
    socket.data.streams = selectedStreams(streams);
    void (async () => {
      let failure: string | null = null;
      try {
        const identity = await auth.identify(socket.request.headers, token);
        if (identity.principal) {
          socket.data.principal = identity.principal;
          socket.data.sessionId = identity.session?.id ?? null;
          socket.data.ip = auth.clientIp(socket.request.headers, socket.request.socket.remoteAddress);
        } else {
          failure = `${SIGN_IN_REQUIRED}: open the dashboard and sign in, or pass a service token as auth.token.`;
        }
      } catch (err) {
        failure = err instanceof AppError ? err.message : "Could not check the sign-in; try again shortly.";
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
