// Socket.IO on the web node: typed events, the Redis adapter joining all nodes, and the per-node live feeds.
import { createAdapter } from "@socket.io/redis-adapter";
import type { Server as HttpServer } from "node:http";
import { Server, type Socket } from "socket.io";
import { BroadcastSchema, BroadcastSubscriptionSchema, MAX_BODY_BYTES, TaskRecordSchema, type Broadcast, type Health, type QueueStats, type SubmitAck } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import { safeJson } from "../../lib/safe-json";
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from "../../lib/socket-events";
import { fanoutChannel } from "../broadcast/broadcast-log";
import type { BroadcastLog } from "../broadcast/broadcast-log";
import type { BroadcastService } from "../broadcast/broadcast-service";
import { AppError, messageOf, tooLarge } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { TaskService } from "../tasks/task-service";
import { canOperate, SIGN_IN_REQUIRED, type AuditAction } from "../../lib/auth";
import type { AuditLog } from "../audit/audit-log";
import type { Authenticator } from "../auth/authenticator";
import { loopbackHost } from "../http/request-guard";
import { originAllowed, takeToken } from "./limits";

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** Room of the tabs that follow every channel, and of the tabs that follow one. */
const ALL_CHANNELS_ROOM = "broadcast:all";
const channelRoom = (channel: string) => `broadcast:channel:${channel}`;

export function createSocketServer(options: {
  httpServer: HttpServer;
  pubClient: Redis;
  subClient: Redis;
  adapterKey: string;
  tasks: TaskService;
  broadcasts: BroadcastService;
  broadcastLog: BroadcastLog;
  limits: {
    rate: number;
    burst: number;
    allowedOrigins: readonly string[];
    /** Events of any kind one connection may send a second, and in a burst (0: no limit). */
    eventRate: number;
    eventBurst: number;
    /** Answer only to loopback host names (no users configured). */
    loopbackOnly: boolean;
  };
  auth: Authenticator;
  audit: AuditLog;
  /** What a new connection gets at once, before the next tick (presence, channels). */
  snapshot: (socket: IoSocket) => void;
  log: Logger;
}): IoServer {
  const { log, limits } = options;
  const io: IoServer = new Server(options.httpServer, {
    adapter: createAdapter(options.pubClient, options.subClient, { key: options.adapterKey }),
    serveClient: false,
    maxHttpBufferSize: 128 * 1024,
    // Browsers on other sites may not open a socket in the user's name (cross-site WebSocket hijacking).
    allowRequest: (req, callback) => {
      if (limits.loopbackOnly && !loopbackHost(req.headers.host, limits.allowedOrigins)) return callback("Host not allowed: with no users configured Taskcast answers only to localhost", false);
      const ok = originAllowed(req.headers.origin, req.headers.host, limits.allowedOrigins);
      if (!ok) log.warn({ origin: req.headers.origin }, "refused a Socket.IO connection from another origin; list it in ALLOWED_ORIGINS to allow it");
      callback(ok ? null : "Origin not allowed; set ALLOWED_ORIGINS on the server to allow it", ok);
    },
  });
  io.use((socket, next) => {
    const { token, ...subscription } = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const parsed = BroadcastSubscriptionSchema.safeParse(subscription);
    if (!parsed.success) return next(new Error(`Invalid handshake: ${describeZodError(parsed.error)}. Send auth {channels?: string[] | null, lastBroadcastId?: string, token?: string}.`));
    socket.data.subscription = parsed.data;
    void (async () => {
      let failure: string | null = null;
      try {
        const identity = await options.auth.identify(socket.request.headers, token);
        if (identity.principal) {
          socket.data.principal = identity.principal;
          socket.data.sessionId = identity.session?.id ?? null;
          socket.data.ip = options.auth.clientIp(socket.request.headers, socket.request.socket.remoteAddress);
        } else {
          failure = `${SIGN_IN_REQUIRED}: open the dashboard and sign in, or pass a service token as auth.token.`;
        }
      } catch (err) {
        failure = err instanceof AppError ? err.message : "Could not check the sign-in; try again shortly.";
      }
      next(failure === null ? undefined : new Error(failure));
    })();
  });
  io.on("connection", (socket: IoSocket) => {
    socket.data.connectedAt = Date.now();
    socket.data.broadcastTokens = limits.burst;
    socket.data.broadcastRefilledAt = Date.now();
    // Signing out ends the session's sockets on every node.
    if (socket.data.sessionId) void socket.join(sessionRoom(socket.data.sessionId));
    const events = { tokens: limits.eventBurst, refilledAt: Date.now() };
    socket.use(([event, ...args], next) => {
      if (limits.eventRate === 0 || takeToken(events, Date.now(), limits.eventRate, limits.eventBurst)) return next();
      const ack = args.at(-1);
      if (typeof ack === "function") ack({ error: `Too many requests on this connection: at most ${limits.eventRate} a second (bursts of ${limits.eventBurst}). "${String(event)}" was not done; wait a moment.` });
    });
    const { channels = null, lastBroadcastId = null } = socket.data.subscription;
    follow(socket, channels);
    // Joined first, then read: a broadcast in between arrives both ways, and the tab keeps one copy by id.
    options.broadcastLog.catchUp(lastBroadcastId, channels).then(
      (catchUp) => socket.emit("broadcast:catchup", catchUp),
      (err: unknown) => log.warn({ err: messageOf(err) }, "could not send a tab the broadcasts it missed"),
    );
    options.snapshot(socket);
    socket.on("task:submit", (input, ack) =>
      reply(ack, async () => {
        await mayOperate(socket, "submit tasks");
        assertWithinBodyLimit(input);
        const { record } = await options.tasks.submit(input);
        audit(socket, "task.submit", record.id, `type ${record.type}, priority ${record.priority}`);
        return { id: record.id };
      }),
    );
    socket.on("broadcast:send", (input, ack) =>
      reply(ack, async () => {
        await mayOperate(socket, "broadcast");
        const bucket = { tokens: socket.data.broadcastTokens, refilledAt: socket.data.broadcastRefilledAt };
        const allowed = takeToken(bucket, Date.now(), limits.rate, limits.burst);
        socket.data.broadcastTokens = bucket.tokens;
        socket.data.broadcastRefilledAt = bucket.refilledAt;
        if (!allowed) {
          throw new AppError(429, "rate_limited", `Too many broadcasts: at most ${limits.rate} a second (bursts of ${limits.burst}) per connection. Nothing was sent; wait a moment and try again.`);
        }
        const broadcast = await options.broadcasts.send(input, "dashboard");
        audit(socket, "broadcast.send", broadcast.id, `#${broadcast.channel}: ${broadcast.message}`);
        return { id: broadcast.id };
      }),
    );
    socket.on("broadcast:follow", (input, ack) => {
      const respond = typeof ack === "function" ? ack : () => undefined;
      const parsed = BroadcastSubscriptionSchema.shape.channels.safeParse(input);
      if (!parsed.success) return respond({ error: `Invalid channels: ${describeZodError(parsed.error)}. Send an array of channel names, or null for all.` });
      const followed = parsed.data ?? null;
      follow(socket, followed);
      options.broadcastLog.catchUp(null, followed).then(respond, (err: unknown) => respond({ error: `Now following, but the history could not be read (${messageOf(err)}).` }));
    });
  });

  /** Operators only; a socket opened with a session that has since ended may do nothing more. */
  async function mayOperate(socket: IoSocket, what: string): Promise<void> {
    const principal = socket.data.principal;
    if (!canOperate(principal)) throw new AppError(403, "forbidden", `${principal.name} has the ${principal.role} role and may not ${what}; ask for the operator role.`);
    if (socket.data.sessionId && !(await options.auth.sessions.alive(socket.data.sessionId))) {
      socket.disconnect(true);
      throw new AppError(401, "unauthenticated", "Your session has ended; sign in again.");
    }
  }

  /** A task sent over the socket is held to the HTTP API's body limit (the socket's own limit is larger). */
  function assertWithinBodyLimit(input: unknown): void {
    const bytes = Buffer.byteLength(JSON.stringify(input) ?? "");
    if (bytes > MAX_BODY_BYTES) throw tooLarge(`The task is ${bytes} bytes as JSON; the limit is ${MAX_BODY_BYTES} bytes. Nothing was queued.`);
  }

  function audit(socket: IoSocket, action: AuditAction, target: string, detail: string): void {
    void options.audit.record({ action, actor: socket.data.principal, target, detail, ip: socket.data.ip, via: "socket" });
  }

  function follow(socket: IoSocket, channels: string[] | null): void {
    for (const room of socket.rooms) if (room.startsWith("broadcast:")) void socket.leave(room);
    void socket.join(channels === null ? ALL_CHANNELS_ROOM : channels.map(channelRoom));
    socket.data.subscription = { ...socket.data.subscription, channels };
  }

  // Answers an event's acknowledgement with {id} or a clear {error}; a client that sent no callback gets nothing.
  function reply(ack: unknown, work: () => Promise<{ id: string }>): void {
    work().then(
      (ok) => typeof ack === "function" && (ack as (r: SubmitAck) => void)(ok),
      (err: unknown) => {
        if (!(err instanceof AppError)) log.error({ err: messageOf(err) }, "socket request failed");
        const error = err instanceof AppError ? err.message : "Internal error; the server log has the details.";
        if (typeof ack === "function") (ack as (r: SubmitAck) => void)({ error });
      },
    );
  }
  return io;
}

/**
 * Workers send their task updates to every web node in batches (serverSideEmit "task:updates"); each node
 * checks them and emits each record to its own tabs as `task:update`.
 */
export function relayTaskUpdates(io: IoServer, log: Logger): void {
  let warned = false;
  io.on("task:updates", (records: unknown) => {
    if (!Array.isArray(records)) return;
    for (const raw of records) {
      const parsed = TaskRecordSchema.safeParse(raw);
      if (parsed.success) io.local.emit("task:update", parsed.data);
      else if (!warned) {
        warned = true;
        log.warn({ err: describeZodError(parsed.error) }, "ignored a malformed task update from a worker (a worker of another version?)");
      }
    }
  });
}

/** Room of the sockets opened with one sign-in session. */
export const sessionRoom = (sessionId: string) => `session:${sessionId}`;

/** Delivers stamped broadcasts from the Redis fan-out channel to this node's own tabs that follow their channel, once each. */
export async function relayBroadcasts(io: IoServer, subscriber: Redis, channel: string, log: Logger, onRelayed?: (broadcast: Broadcast) => void): Promise<void> {
  const fanout = fanoutChannel(channel);
  subscriber.on("message", (ch: string, raw: string) => {
    if (ch !== fanout) return;
    const parsed = BroadcastSchema.safeParse(safeJson(raw));
    if (!parsed.success) return log.warn("ignored a malformed message on the fan-out channel");
    // A socket in both rooms still gets it once: Socket.IO sends to the union of the rooms.
    io.local.to([ALL_CHANNELS_ROOM, channelRoom(parsed.data.channel)]).emit("broadcast", parsed.data);
    onRelayed?.(parsed.data);
  });
  await subscriber.subscribe(fanout);
}

/** Reads queue stats once per interval for this node and pushes them to its own tabs when they change. */
export function startQueueStatsTicker(io: IoServer, read: () => Promise<QueueStats>, intervalMs: number, log: Logger, onSample?: (stats: QueueStats) => void): () => void {
  let last = "";
  let failing = false;
  const tick = async () => {
    try {
      const stats = await read();
      failing = false;
      onSample?.(stats);
      const text = JSON.stringify(stats);
      if (text === last) return;
      last = text;
      io.local.emit("queue:stats", stats);
    } catch (err) {
      if (!failing) log.warn({ err: messageOf(err) }, "queue stats unavailable");
      failing = true;
    }
  };
  // New tabs load the current stats over HTTP; the ticker only pushes changes.
  const timer = setInterval(() => void tick(), intervalMs);
  void tick();
  return () => clearInterval(timer);
}

/** Checks this node's RabbitMQ and Redis once per interval and pushes the result to its tabs when it changes. */
export function startHealthTicker(io: IoServer, check: () => Promise<Health>, intervalMs: number): { stop(): void; current(): Health | undefined } {
  let last: Health | undefined;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const health = await check();
      if (JSON.stringify(health) !== JSON.stringify(last)) io.local.emit("health", health);
      last = health;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  void tick();
  return { stop: () => clearInterval(timer), current: () => last };
}
