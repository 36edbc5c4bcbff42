// The web node's Socket.IO server: typed events, the Redis adapter joining all nodes, and who may open a
// socket (Host and Origin checks, then the handshake's sign-in). What flows over it is in the sibling modules.
import { createAdapter } from "@socket.io/redis-adapter";
import { Server, type Socket } from "socket.io";
import { MAX_BATCH_BODY_BYTES } from "../../lib/contract";
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from "../../lib/socket-events";
import type { IncomingMessage } from "node:http";
import { hostAllowed, originAllowed, originHint } from "../access/origin-policy";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export const SESSION_ROOM_PREFIX = "session:";
/** Room of the sockets opened with one sign-in session. */
export const sessionRoom = (sessionId: string) => `${SESSION_ROOM_PREFIX}${sessionId}`;

/**
 * The Socket.IO server, not yet attached: attach it (`io.attach(httpServer)`) once the HTTP server has its
 * request handler, so Socket.IO's own requests never reach that handler.
 */
export function createSocketServer(options: {
  pubClient: Redis;
  subClient: Redis;
  adapterKey: string;
  allowedOrigins: readonly string[];
  /** Without users: the Host names answered besides loopback ones (hostAllowlist). Null: any. */
  allowedHosts: readonly string[] | null;
  /** Whether a request came over HTTPS (directly or behind a trusted proxy): the scheme of the node's own origin. */
  isHttps: (req: IncomingMessage) => boolean;
  log: Logger;
}): IoServer {
  const { log, allowedOrigins } = options;
  return new Server({
    adapter: createAdapter(options.pubClient, options.subClient, { key: options.adapterKey }),
    serveClient: false,
    // Room for the largest batch (task:submitBatch) and its framing; anything bigger closes the connection.
    maxHttpBufferSize: MAX_BATCH_BODY_BYTES + 64 * 1024,
    // Browsers on other sites may not open a socket in the user's name (cross-site WebSocket hijacking).
    allowRequest: (req, callback) => {
      if (options.allowedHosts && !hostAllowed(req.headers.host, options.allowedHosts)) return callback("Host not allowed: with no users configured Taskcast answers only to localhost and ALLOWED_HOSTS", false);
      const https = options.isHttps(req);
      const ok = originAllowed(req.headers.origin, req.headers.host, https, allowedOrigins);
      if (!ok) {
        const hint = originHint(req.headers.origin ?? "", req.headers.host, https);
        log.warn({ origin: req.headers.origin }, `refused a Socket.IO connection from another origin; ${hint ?? "list it in ALLOWED_ORIGINS to allow it"}`);
      }
      callback(ok ? null : "Origin not allowed; set ALLOWED_ORIGINS on the server to allow it", ok);
    },
  });
}
