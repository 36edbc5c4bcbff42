// Broadcasts over the socket: the channels a tab follows (rooms), what it missed, `broadcast:send` and
// `broadcast:follow`, and the relay of every node's broadcasts from the Redis fan-out channel to this node's tabs.
import { BroadcastSchema, BroadcastSubscriptionSchema, type Broadcast } from "../../lib/contract";
import { safeJson } from "../../lib/safe-json";
import { describeZodError } from "../../lib/zod-message";
import { metered, RECORDS_PER_TOKEN, scanBudget } from "../access/scan-cost";
import type { RateLimiter } from "../access/token-bucket";
import type { AuditLog } from "../audit/audit-log";
import type { Authenticator } from "../auth/authenticator";
import type { BroadcastLog } from "../broadcast/broadcast-log";
import type { BroadcastService } from "../broadcast/broadcast-service";
import { AppError, messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import { actorOf, assertSessionAlive, clientOf, mayOperate, reply, sessionCheckError } from "./requests";
import type { IoServer, IoSocket } from "./socket-server";

/** Room of the tabs that follow every channel, and of the tabs that follow one. */
const ALL_CHANNELS_ROOM = "broadcast:all";
const channelRoom = (channel: string) => `broadcast:channel:${channel}`;

export function handleBroadcastEvents(
  io: IoServer,
  options: {
    broadcasts: BroadcastService;
    broadcastLog: BroadcastLog;
    auth: Authenticator;
    audit: AuditLog;
    /** Broadcasts one user or token may send a second over all its sockets, and in a burst. */
    sends: RateLimiter;
    /** The socket events limiter: reading the history is charged to it by the entries read. */
    events: RateLimiter;
    log: Logger;
  },
): void {
  const { broadcastLog, sends, events, log } = options;
  /** Reads history for a socket, charging its user or token for the entries read beyond one event's worth. */
  const catchUp = (socket: IoSocket, afterId: string | null, channels: string[] | null) => {
    const client = clientOf(socket);
    const cost = { available: () => events.available(client), charge: (tokens: number) => events.charge(client, tokens), refund: (tokens: number) => events.refund(client, tokens) };
    // It reads no more history than the client's tokens pay for (past that the tab is told it missed some: gap), and
    // is charged once read: tokens reserved up front would hold up the events a tab sends the moment it connects.
    const readLimit = scanBudget(cost, RECORDS_PER_TOKEN.broadcasts, broadcastLog.historySize);
    return metered(cost, RECORDS_PER_TOKEN.broadcasts, (meter) => broadcastLog.catchUp(afterId, channels, undefined, meter, readLimit));
  };
  io.on("connection", (socket) => {
    const { channels = null, lastBroadcastId = null } = socket.data.subscription;
    follow(socket, channels);
    // Joined first, then read: a broadcast in between arrives both ways, and the tab keeps one copy by id.
    catchUp(socket, lastBroadcastId, channels).then(
      (missed) => socket.emit("broadcast:catchup", missed),
      (err: unknown) => log.warn({ err: messageOf(err) }, "could not send a tab the broadcasts it missed"),
    );
    socket.on("broadcast:send", (input, ack) =>
      reply(
        ack,
        async () => {
          await mayOperate(socket, options.auth, "broadcast");
          if (!sends.take(clientOf(socket)).allowed) {
            throw new AppError(429, "rate_limited", `Too many broadcasts: at most ${sends.rate} a second (bursts of ${sends.burst}) per user or token, over all its connections. Nothing was sent; wait a moment and try again.`);
          }
          const broadcast = await options.broadcasts.send(input, "dashboard");
          const { principal, ip, via } = actorOf(socket);
          void options.audit.record({ action: "broadcast.send", actor: principal, target: broadcast.id, detail: `#${broadcast.channel}: ${broadcast.message}`, ip, via });
          return { id: broadcast.id };
        },
        log,
      ),
    );
    socket.on("broadcast:follow", (input, ack) => {
      const respond = typeof ack === "function" ? ack : () => undefined;
      const parsed = BroadcastSubscriptionSchema.shape.channels.safeParse(input);
      if (!parsed.success) return respond({ error: `Invalid channels: ${describeZodError(parsed.error)}. Send an array of channel names, or null for all.` });
      const followed = parsed.data ?? null;
      assertSessionAlive(socket, options.auth).then(
        () => {
          follow(socket, followed);
          catchUp(socket, null, followed).then(respond, (err: unknown) => {
            log.warn({ err: messageOf(err) }, "could not read the broadcast history for broadcast:follow");
            respond({ error: "Now following, but the history could not be read; follow again shortly to catch up." });
          });
        },
        (err: unknown) => respond({ error: sessionCheckError(err) }),
      );
    });
  });
}

function follow(socket: IoSocket, channels: string[] | null): void {
  for (const room of socket.rooms) if (room.startsWith("broadcast:")) void socket.leave(room);
  void socket.join(channels === null ? ALL_CHANNELS_ROOM : channels.map(channelRoom));
  socket.data.subscription = { ...socket.data.subscription, channels };
}

/** Delivers stamped broadcasts from the Redis fan-out channel (`<KEY_PREFIX>:broadcast:fanout`) to this node's own tabs that follow their channel, once each. */
export async function relayBroadcasts(io: IoServer, subscriber: Redis, fanout: string, log: Logger, onRelayed?: (broadcast: Broadcast) => void): Promise<void> {
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
