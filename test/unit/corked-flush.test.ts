// corkFlushes: the packets of one engine.io flush reach the kernel in one write, and still arrive whole and in order.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo, Socket as TcpSocket } from "node:net";
import { test } from "node:test";
import { Server } from "socket.io";
import { io as connect } from "socket.io-client";
import { corkFlushes, tcpSocketOf } from "../../server/realtime/corked-flush";

const EVENTS = 300;

/** Emits EVENTS events in one tick to a connected client; resolves with what it received and the server's writes to its TCP socket. */
async function burst(corked: boolean): Promise<{ received: number[]; writes: number }> {
  const httpServer = createServer();
  const io = new Server(httpServer, { serveClient: false });
  if (corked) corkFlushes(io);
  httpServer.listen(0, "127.0.0.1");
  await once(httpServer, "listening");
  const client = connect(`http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`, { transports: ["websocket"], reconnection: false });
  try {
    const [socket] = (await once(io, "connection")) as [import("socket.io").Socket];
    await new Promise<void>((resolve) => (client.connected ? resolve() : client.once("connect", () => resolve())));
    const tcp = tcpSocketOf(socket.conn as never) as TcpSocket & { _write: TcpSocket["_write"]; _writev: NonNullable<TcpSocket["_writev"]> };
    assert.ok(tcp, "a WebSocket connection exposes its TCP socket");
    let writes = 0;
    const write = tcp._write.bind(tcp);
    const writev = tcp._writev.bind(tcp);
    tcp._write = (...args) => (writes++, write(...args));
    tcp._writev = (...args) => (writes++, writev(...args));
    const received: number[] = [];
    const all = new Promise<void>((resolve) => client.on("n", (n: number) => received.push(n) === EVENTS && resolve()));
    for (let n = 0; n < EVENTS; n++) socket.emit("n", n);
    await all;
    return { received, writes };
  } finally {
    client.close();
    await io.close();
  }
}

test("a flush of many packets is one write to the TCP socket, delivered whole and in order", async () => {
  const plain = await burst(false);
  const corked = await burst(true);
  const inOrder = Array.from({ length: EVENTS }, (_, n) => n);
  assert.deepEqual(plain.received, inOrder);
  assert.deepEqual(corked.received, inOrder);
  // The first packet leaves alone (the transport was idle); the other 299 wait for it and go as one flush.
  assert.ok(plain.writes > EVENTS / 2, `without the cork every frame is a write of its own (${plain.writes} writes)`);
  assert.ok(corked.writes <= 3, `with the cork a flush is one write (${corked.writes} writes for ${EVENTS} events)`);
});

test("only a WebSocket connection that is still open is corked", () => {
  const tcp = { destroyed: false, writable: true } as TcpSocket;
  assert.equal(tcpSocketOf({ transport: { name: "websocket", socket: { _socket: tcp } } }), tcp);
  assert.equal(tcpSocketOf({ transport: { name: "polling" } }), undefined);
  assert.equal(tcpSocketOf({ transport: { name: "websocket", socket: { _socket: null } } }), undefined);
  assert.equal(tcpSocketOf({ transport: { name: "websocket", socket: { _socket: { destroyed: true, writable: false } as TcpSocket } } }), undefined);
});
