// Which live streams each socket receives: one room per stream (`stream:<name>`), joined per the socket's
// handshake and `streams:follow`, and every push of a stream sent to its room. A socket that chooses nothing is in all.
import { LIVE_STREAMS, selectedStreams, StreamSelectionSchema, type LiveStream } from "../../lib/contract";
import { STREAM_EVENTS, type StreamEvent, type StreamValue } from "../../lib/socket-events";
import { z } from "../../lib/zod";
import { describeZodError } from "../../lib/zod-message";
import type { Authenticator } from "../auth/authenticator";
import { assertSessionAlive, sessionCheckError } from "./requests";
import type { IoServer, IoSocket } from "./socket-server";

const streamRoom = (stream: LiveStream) => `stream:${stream}`;

/** The streams pushed only when they change, each with this node's current value (undefined: none yet). */
export type StreamSnapshots = { [S in "presence" | "channels" | "health" | "queue" | "queues"]: () => StreamValue<S> | undefined };

/** Sent on connection for the streams a socket follows, as before streams could be chosen (tabs load queue stats over HTTP then). */
const SNAPSHOTS_ON_CONNECT = ["presence", "channels", "health"] as const;

// Wrapped in an object so that an error names the field: "streams.1: …".
const FollowInputSchema = z.object({ streams: StreamSelectionSchema });

/**
 * What emits a stream's event. TypeScript cannot tie a generic stream's event to that event's parameters, so the
 * emitters are seen through this; STREAM_EVENTS (checked against the event map) and StreamValue keep the pairs right.
 */
interface StreamEmitter {
  emit(event: StreamEvent, value: StreamValue<LiveStream>): unknown;
}

/** Pushes a stream's value to this node's own tabs that follow it. */
export function pushToStream<S extends LiveStream>(io: IoServer, stream: S, value: StreamValue<S>): void {
  localRoomOf(io, stream).emit(STREAM_EVENTS[stream], value);
}

/**
 * Each node's emitter to a stream's room, made once: a broadcast operator never changes (`to`, `local` return new
 * ones), and making two with their room sets for every record relayed to the `tasks` stream is garbage by the thousand.
 */
const localRooms = new WeakMap<IoServer, Map<LiveStream, StreamEmitter>>();
function localRoomOf(io: IoServer, stream: LiveStream): StreamEmitter {
  let rooms = localRooms.get(io);
  if (!rooms) localRooms.set(io, (rooms = new Map()));
  let room = rooms.get(stream);
  if (!room) rooms.set(stream, (room = io.local.to(streamRoom(stream))));
  return room;
}

/** Pushes a stream's value to the tabs that follow it on every web node (through the Redis adapter). */
export function pushToStreamEverywhere<S extends LiveStream>(io: IoServer, stream: S, value: StreamValue<S>): void {
  const room: StreamEmitter = io.to(streamRoom(stream));
  room.emit(STREAM_EVENTS[stream], value);
}

/** Whether any tab of this node follows the stream: a lookup in the adapter's room map. */
export function streamFollowed(io: IoServer, stream: LiveStream): boolean {
  return (io.of("/").adapter.rooms.get(streamRoom(stream))?.size ?? 0) > 0;
}

/**
 * Puts each new socket in the rooms of the streams its handshake chose (socket.data.streams) and sends it the
 * current presence, channels and health it follows; `streams:follow` replaces the selection, and a socket that
 * starts following a stream pushed only on change gets its current value at once, before the answer.
 */
export function handleStreamSelection(io: IoServer, auth: Authenticator, snapshots: StreamSnapshots): void {
  io.on("connection", (socket) => {
    joinStreams(socket, socket.data.streams);
    for (const stream of SNAPSHOTS_ON_CONNECT) if (socket.data.streams.includes(stream)) sendSnapshot(socket, stream, snapshots);
    socket.on("streams:follow", async (input, ack) => {
      const respond = typeof ack === "function" ? ack : () => undefined;
      const parsed = FollowInputSchema.safeParse({ streams: input });
      if (!parsed.success) return respond({ error: `Invalid streams: ${describeZodError(parsed.error)}.` });
      // A socket whose session ended starts following nothing more (and is closed).
      const alive = await assertSessionAlive(socket, auth).then(
        () => true,
        (err: unknown) => void respond({ error: sessionCheckError(err) }),
      );
      if (!alive) return;
      const before = socket.data.streams;
      const streams = selectedStreams(parsed.data.streams);
      joinStreams(socket, streams);
      for (const stream of streams) if (!before.includes(stream) && isSnapshotted(stream, snapshots)) sendSnapshot(socket, stream, snapshots);
      respond({ streams });
    });
  });
}

function joinStreams(socket: IoSocket, streams: LiveStream[]): void {
  for (const stream of LIVE_STREAMS) if (!streams.includes(stream)) void socket.leave(streamRoom(stream));
  void socket.join(streams.map(streamRoom));
  socket.data.streams = streams;
}

const isSnapshotted = (stream: LiveStream, snapshots: StreamSnapshots): stream is keyof StreamSnapshots => stream in snapshots;

function sendSnapshot<S extends keyof StreamSnapshots>(socket: IoSocket, stream: S, snapshots: StreamSnapshots): void {
  const value = snapshots[stream]();
  const emitter: StreamEmitter = socket;
  if (value !== undefined) emitter.emit(STREAM_EVENTS[stream], value);
}
