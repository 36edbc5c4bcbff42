// engine.io hands a connection the packets waiting for it in one flush, and its WebSocket transport writes each
// packet as a frame of its own: ws writes a frame (header and payload) with its own cork, so every frame costs a
// writev call. A tab that follows the tasks stream gets a thousand `task:update`s at once when a batch is queued,
// and that was a thousand system calls, the largest single cost of a web node queueing batches. Corking the
// connection's TCP socket for the length of the flush sends them with one.
import type { Socket as TcpSocket } from "node:net";

/** What this needs of an engine.io connection: a WebSocket transport exposes ws's WebSocket, whose `_socket` is the TCP socket. */
interface EngineConnection {
  transport?: { name?: string; socket?: { _socket?: TcpSocket | null } };
}

/** The TCP socket under a connection on the WebSocket transport, if it is still open for writing. */
export function tcpSocketOf(connection: EngineConnection): TcpSocket | undefined {
  const transport = connection.transport;
  if (transport?.name !== "websocket") return undefined;
  const tcp = transport.socket?._socket;
  return tcp && !tcp.destroyed && tcp.writable ? tcp : undefined;
}

/**
 * Makes every flush of a WebSocket connection one write to the kernel. engine.io emits "flush" just before it
 * hands the packets to the transport, which writes them synchronously; the uncork on the next tick sends them
 * all (Node's own idiom for cork). Call after `io.attach()`, which creates the engine.
 */
export function corkFlushes(io: { engine: { on(event: "flush", listener: (connection: EngineConnection) => void): unknown } }): void {
  io.engine.on("flush", (connection) => {
    const tcp = tcpSocketOf(connection);
    if (!tcp) return;
    tcp.cork();
    process.nextTick(() => tcp.uncork());
  });
}
