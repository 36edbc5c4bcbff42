import assert from "node:assert/strict";
import { test } from "node:test";
import { capSocketsPerPrincipal } from "../../server/realtime/connection-cap";
import type { IoServer } from "../../server/realtime/socket-server";

type Middleware = (socket: unknown, next: (err?: Error) => void) => void;

/** A handshake as the cap sees it: alice's, on a connection that is open or already closed. */
function handshake(readyState: "open" | "closed") {
  const listeners: Array<() => void> = [];
  return {
    socket: { data: { principal: { kind: "user", name: "alice", role: "viewer" } }, conn: { readyState, once: (_event: string, fn: () => void) => void listeners.push(fn) }, once: () => undefined },
    close: () => listeners.forEach((fn) => fn()),
  };
}

test("a handshake whose connection closed while it waited takes no place under SOCKETS_PER_PRINCIPAL", () => {
  let middleware: Middleware | undefined;
  capSocketsPerPrincipal({ use: (fn: Middleware) => void (middleware = fn) } as unknown as IoServer, 1);
  const outcomes: Array<Error | undefined> = [];
  // The tab closed during the (async) sign-in check: no "close" will come again for it.
  middleware!(handshake("closed").socket, (err) => outcomes.push(err));
  middleware!(handshake("open").socket, (err) => outcomes.push(err));
  assert.ok(outcomes[0] instanceof Error, "the closed one is refused");
  assert.equal(outcomes[1], undefined, "the user's next connection is let in");
  // While that one is open, a third is refused.
  const third = handshake("open");
  middleware!(third.socket, (err) => outcomes.push(err));
  assert.match(String(outcomes[2]), /SOCKETS_PER_PRINCIPAL/);
});
