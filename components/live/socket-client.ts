// The browser's one Socket.IO connection, shared by every live hook in the tab.
import { io, type Socket } from "socket.io-client";
import { SIGN_IN_REQUIRED } from "@/lib/auth";
import type { BroadcastSubscription, HandshakeAuth, LiveStream } from "@/lib/contract";
import { compareIds } from "@/lib/live-state";
import { goToSignIn } from "@/lib/sign-in";
import type { ClientToServerEvents, ServerToClientEvents } from "@/lib/socket-events";
import { StreamSelection } from "./stream-selection";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

let socket: ClientSocket | undefined;

// What the tab states in every (re)connection's handshake; the broadcasts hook keeps it current.
const subscription: { channels: string[] | null; lastBroadcastId: string | null } = { channels: null, lastBroadcastId: null };

// The live streams the mounted components show (each hook adds its own), and what the server was last told of them.
const streams = new StreamSelection();
let toldStreams: string | null = null;
let streamsTimer: ReturnType<typeof setTimeout> | undefined;

const RETRY_REFUSED_MS = 3000;
const FOLLOW_TIMEOUT_MS = 10_000;

export function getSocket(): ClientSocket {
  if (socket) return socket;
  // `auth` as a function is called on every connection attempt, so a reconnection sends the current state.
  socket = io({
    transports: ["websocket", "polling"],
    reconnectionDelayMax: RETRY_REFUSED_MS,
    auth: (cb) => cb(handshakeAuth()),
  });
  // Streams added or dropped between the handshake and the connection are sent now.
  socket.on("connect", scheduleStreamsUpdate);
  // The session expired or was signed out (here or in another tab): sign in again, then come back here.
  socket.on("connect_error", (err) => {
    if (err.message.startsWith(SIGN_IN_REQUIRED)) return goToSignIn();
    // Refused by the server's middleware (e.g. the sign-in could not be checked just now): Socket.IO does not
    // retry that by itself, so try again shortly, as it would after a network error.
    if (!socket?.active) setTimeout(() => socket?.connect(), RETRY_REFUSED_MS);
  });
  // The server ends a signed-out session's sockets, and Socket.IO does not reconnect after that by itself:
  // trying again lands in connect_error above, or reconnects if this tab is still signed in.
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") socket?.connect();
  });
  return socket;
}

/** The handshake's `auth`: the followed channels (null: all) and the newest broadcast id the tab has. */
export function currentSubscription(): BroadcastSubscription {
  return { channels: subscription.channels && [...subscription.channels], lastBroadcastId: subscription.lastBroadcastId };
}

/** The handshake's whole `auth`: the broadcast subscription and the live streams the mounted components show. */
function handshakeAuth(): HandshakeAuth {
  const wanted = streams.current();
  toldStreams = wanted.join();
  return { ...currentSubscription(), streams: wanted };
}

/**
 * The tab receives `stream` while the caller holds it (a hook, from mount to unmount); returns its release. Changes
 * made together (one render's effects) reach the server as one `streams:follow`; a reconnection states them in its
 * handshake.
 */
export function followStream(stream: LiveStream): () => void {
  const release = streams.add(stream);
  scheduleStreamsUpdate();
  return () => {
    release();
    scheduleStreamsUpdate();
  };
}

function scheduleStreamsUpdate(): void {
  streamsTimer ??= setTimeout(sendStreams, 0);
}

function sendStreams(): void {
  streamsTimer = undefined;
  // Not connected: the next handshake states them.
  if (!socket?.connected) return;
  const wanted = streams.current();
  const key = wanted.join();
  if (key === toldStreams) return;
  toldStreams = key;
  socket
    .timeout(FOLLOW_TIMEOUT_MS)
    .emitWithAck("streams:follow", wanted)
    .then(
      (reply) => "error" in reply && sendStreamsAgain(key),
      () => sendStreamsAgain(key),
    );
}

/** Refused (rate limit) or unanswered: what the server follows is unknown, so send the set again shortly. */
function sendStreamsAgain(key: string): void {
  // A newer set, or a reconnection's handshake, has been sent since.
  if (toldStreams !== key) return;
  toldStreams = null;
  setTimeout(scheduleStreamsUpdate, RETRY_REFUSED_MS);
}

/** The channels this tab follows from now on (null: all). */
export function setFollowedChannels(channels: readonly string[] | null): void {
  subscription.channels = channels && [...channels];
}

/** Records that the tab has every broadcast of its channels up to `id`; only ever moves forward. */
export function noteBroadcastId(id: string | null | undefined): void {
  if (id && (subscription.lastBroadcastId === null || compareIds(id, subscription.lastBroadcastId) > 0)) subscription.lastBroadcastId = id;
}
