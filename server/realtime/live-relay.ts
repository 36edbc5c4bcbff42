// The node's live events that tabs see as they are: audit entries, the workers list, and ended sessions.
import type { LiveEvents } from "../live-events";
import { sessionRoom, type IoServer } from "./socket-server";
import { pushToStream } from "./stream-rooms";

export function relayLiveEvents(io: IoServer, live: LiveEvents): void {
  // Written on one node, shown in every tab of every node.
  live.on("audit:recorded", (entry) => io.emit("audit:entry", entry));
  live.on("dead-letters:progress", (progress) => io.emit("deadLetters:progress", progress));
  // Computed by each node for its own tabs that follow the stream.
  live.on("workers:listed", (list) => pushToStream(io, "workers", list));
  // Signing out ends the session's sockets on every node.
  live.on("session:ended", (sessionId) => io.in(sessionRoom(sessionId)).disconnectSockets(true));
}
