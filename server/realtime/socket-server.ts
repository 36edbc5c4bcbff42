// Socket.IO on the web node: typed events, the Redis adapter joining all nodes, and the per-node live feeds.
import { createAdapter } from "@socket.io/redis-adapter";
import type { Server as HttpServer } from "node:http";
import { Server, type Socket } from "socket.io";
import { BroadcastSchema, type QueueStats, type SubmitAck } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents, SocketData } from "../../lib/socket-events";
import { fanoutChannel } from "../broadcast/broadcast-log";
import type { BroadcastService } from "../broadcast/broadcast-service";
import { AppError, messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { TaskService } from "../tasks/task-service";

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export function createSocketServer(options: {
  httpServer: HttpServer;
  pubClient: Redis;
  subClient: Redis;
  adapterKey: string;
  tasks: TaskService;
  broadcasts: BroadcastService;
  log: Logger;
}): IoServer {
  const { log } = options;
  const io: IoServer = new Server(options.httpServer, {
    adapter: createAdapter(options.pubClient, options.subClient, { key: options.adapterKey }),
    serveClient: false,
    maxHttpBufferSize: 128 * 1024,
  });
  io.on("connection", (socket: IoSocket) => {
    socket.data.connectedAt = Date.now();
    socket.on("task:submit", (input, ack) => reply(ack, async () => ({ id: (await options.tasks.submit(input)).record.id })));
    socket.on("broadcast:send", (input, ack) => reply(ack, async () => ({ id: (await options.broadcasts.send(input, "dashboard")).id })));
  });

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

/** Delivers stamped broadcasts from the Redis fan-out channel to this node's own tabs, once each. */
export async function relayBroadcasts(io: IoServer, subscriber: Redis, channel: string, log: Logger): Promise<void> {
  const fanout = fanoutChannel(channel);
  subscriber.on("message", (ch: string, raw: string) => {
    if (ch !== fanout) return;
    const parsed = BroadcastSchema.safeParse(safeJson(raw));
    if (!parsed.success) return log.warn("ignored a malformed message on the fan-out channel");
    io.local.emit("broadcast", parsed.data);
  });
  await subscriber.subscribe(fanout);
}

/** Reads queue stats once per interval for this node and pushes them to its own tabs when they change. */
export function startQueueStatsTicker(io: IoServer, read: () => Promise<QueueStats>, intervalMs: number, log: Logger): () => void {
  let last = "";
  let failing = false;
  const tick = async () => {
    try {
      const stats = await read();
      failing = false;
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
