// Sockets opened with a sign-in session end with it: each web node checks its sockets' sessions together, once
// per interval, and disconnects those whose session expired or was deleted (sign-out on another node has its own, faster path).
import type { SessionStore } from "../auth/sessions";
import type { Logger } from "../logger";
import { runPeriodically } from "../periodic";
import { SESSION_ROOM_PREFIX, sessionRoom, type IoServer } from "./socket-server";

/** @defaultValue 5000: a socket outlives its session by at most this (plus one Redis round trip). */
export const SESSION_CHECK_MS = 5000;

/**
 * Every `intervalMs`: one pipeline of EXISTS for the distinct sessions of this node's sockets (their session
 * rooms), then the sockets of each ended session are disconnected. While Redis does not answer nothing is
 * disconnected: the events that need a live session check it themselves.
 */
export function startSessionSweep(io: IoServer, sessions: SessionStore, intervalMs: number, log: Logger): () => void {
  const sweep = async () => {
    const ids = [...io.of("/").adapter.rooms.keys()].filter((room) => room.startsWith(SESSION_ROOM_PREFIX)).map((room) => room.slice(SESSION_ROOM_PREFIX.length));
    const alive = await sessions.aliveMany(ids);
    for (const id of ids) if (!alive.has(id)) io.local.in(sessionRoom(id)).disconnectSockets(true);
  };
  return runPeriodically(sweep, { intervalMs, failure: { log, message: "could not check the sockets' sessions; trying again" } });
}
