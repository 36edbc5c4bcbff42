// The browser's one Socket.IO connection, shared by every live hook in the tab.
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "./socket-events";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

let socket: ClientSocket | undefined;

export function getSocket(): ClientSocket {
  socket ??= io({ transports: ["websocket", "polling"], reconnectionDelayMax: 3000 });
  return socket;
}
