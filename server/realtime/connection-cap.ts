// How many sockets one user or token may hold on a web node: each costs memory and every push, so one client
// may not open any number of them. Without users (everyone is the local operator on loopback) there is no cap.
import type { IoServer } from "./socket-server";

/**
 * Refuses a handshake past `max` sockets of its user or token on this node (0: no cap). Registered after the
 * handshake's sign-in check, which sets the principal. A place is taken at the handshake and given back when the
 * connection closes, so two handshakes at once cannot both take the last one.
 */
export function capSocketsPerPrincipal(io: IoServer, max: number): void {
  if (max === 0) return;
  const held = new Map<string, number>();
  io.use((socket, next) => {
    const { principal } = socket.data;
    if (principal.kind === "local") return next();
    // Closed while the sign-in check before this one waited on Redis (a tab closed or reloaded): it takes no place,
    // for its close has been and gone, and Socket.IO drops it without a "disconnect" that would give one back.
    if (socket.conn.readyState !== "open") return next(new Error("The connection closed during its handshake."));
    const client = `${principal.kind}:${principal.name}`;
    const count = held.get(client) ?? 0;
    if (count >= max) {
      return next(new Error(`${principal.name} already has ${max} connections to this web node, the most allowed (SOCKETS_PER_PRINCIPAL); close some tabs or clients and try again.`));
    }
    held.set(client, count + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (held.get(client) ?? 1) - 1;
      if (left > 0) held.set(client, left);
      else held.delete(client);
    };
    // "disconnect" fires only for a socket that connected; the transport's close also covers one that never did.
    socket.once("disconnect", release);
    socket.conn.once("close", release);
    next();
  });
}
