// Security against real RabbitMQ and Redis, part two: what one client may cost the service (requests charged by
// the records they read, sockets per user or token), sockets whose sign-in ended, idempotency keys per client,
// malformed task ids, and the internal fan-out channel under KEY_PREFIX.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { Broadcast } from "../../lib/contract";
import { pino } from "pino";
import { loadConfig } from "../../server/config";
import { startWebNode, type WebNode } from "../../server/web-node";
import { authEnv, bearer, originOf, PASSWORDS, rawRequest, signIn, TOKENS } from "../helpers/auth";
import { startStack, type Stack, type TestSocket } from "../helpers/stack";

/** A second operator token, so two clients can use the same Idempotency-Key. */
const OTHER_OPERATOR = randomBytes(32).toString("base64url");
/** Viewer tokens, one per test of the costs, so each starts with a full bucket. */
const VIEWERS = Object.fromEntries(["searcher", "auditor", "watcher", "chatty", "follower", "reconnector"].map((name) => [name, randomBytes(32).toString("base64url")])) as Record<
  "searcher" | "auditor" | "watcher" | "chatty" | "follower" | "reconnector",
  string
>;

describe("one client cannot reach into another's requests or break the API with a malformed id", () => {
  let stack: Stack;
  let url: string;
  before(async () => {
    stack = await startStack({ workers: 0, env: authEnv([`deploy-bot:operator:${OTHER_OPERATOR}`]) });
    url = stack.nodes[0].url;
  });
  after(() => stack.close());

  const submit = (token: string, key: string, body: unknown) => rawRequest(url, { method: "POST", path: "/api/tasks", body, headers: { ...bearer(token), "Idempotency-Key": key } });

  test("an Idempotency-Key is scoped to its client: another token with the same key makes its own task", async () => {
    const key = `deploy-${randomUUID()}`;
    const first = await submit(TOKENS.ci, key, { type: "echo", payload: { from: "ci" } });
    assert.equal(first.status, 202, first.text);
    // The same client again: replayed, as before.
    const again = await submit(TOKENS.ci, key, { type: "echo", payload: { from: "ci" } });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.headers["idempotent-replayed"], "true");
    // Another client, the same key and body: its own new task, not ci's.
    const same = await submit(OTHER_OPERATOR, key, { type: "echo", payload: { from: "ci" } });
    assert.equal(same.status, 202, same.text);
    assert.notEqual(same.body.id, first.body.id);
    assert.equal(same.headers["idempotent-replayed"], undefined);
    // Another client, the same key and another body: accepted, not "key reused".
    const other = await submit(OTHER_OPERATOR, `${key}-2`, { type: "echo" });
    const clash = await submit(TOKENS.ci, `${key}-2`, { type: "echo", payload: { different: true } });
    assert.equal(other.status, 202, other.text);
    assert.equal(clash.status, 202, clash.text);
    assert.notEqual(clash.body.id, other.body.id);
  });

  test("a task id with a malformed % escape is a 400 that says so, on GET and on every action", async () => {
    const operator = bearer(TOKENS.ci);
    for (const [method, path] of [
      ["GET", "/api/tasks/%E0%A4%A"],
      ["GET", "/api/tasks/abc%"],
      ["POST", "/api/tasks/%E0%A4%A/cancel"],
      ["POST", "/api/tasks/%/retry"],
      ["POST", "/api/tasks/%ZZ/discard"],
    ]) {
      const res = await rawRequest(url, { method, path, headers: operator, body: method === "POST" ? {} : undefined });
      assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.code, "invalid_input");
      assert.match(res.body.error, /task id .*is not valid URL encoding/i);
    }
    // A well-formed escape still reaches the task (and finds none).
    const missing = await rawRequest(url, { path: "/api/tasks/no%20such", headers: operator });
    assert.equal(missing.status, 404, missing.text);
  });

  test("web nodes relay broadcasts on a fan-out channel under KEY_PREFIX; a PUBLISH on the old `<BROADCAST_CHANNEL>:fanout` reaches no tab", async () => {
    const { KEY_PREFIX, BROADCAST_CHANNEL } = stack.config;
    const listener = stack.redis.duplicate();
    const heard: string[] = [];
    listener.on("message", (channel: string) => heard.push(channel));
    await listener.subscribe(`${KEY_PREFIX}:broadcast:fanout`);
    try {
      const socket = await stack.connectSocket(url, { auth: { token: TOKENS.grafana } });
      const received: Broadcast[] = [];
      socket.on("broadcast", (b) => received.push(b));
      const forged = { id: "999999", message: `forged ${randomUUID()}`, channel: "general", source: "api", at: new Date().toISOString() };
      await stack.redis.publish(`${BROADCAST_CHANNEL}:fanout`, JSON.stringify(forged));
      // Published after the forgery on the same connection: the node hears it later, if it hears the forgery at all.
      const marker = `real ${randomUUID()}`;
      assert.equal((await rawRequest(url, { method: "POST", path: "/api/broadcasts", body: { message: marker }, headers: bearer(TOKENS.ci) })).status, 202);
      await waitFor(() => received.some((b) => b.message === marker), "the real broadcast to arrive");
      assert.deepEqual(
        received.map((b) => b.message),
        [marker],
        "the forged message was not relayed",
      );
      await waitFor(() => heard.length > 0, "the broadcast on the prefixed fan-out channel");
      assert.deepEqual(heard, [`${KEY_PREFIX}:broadcast:fanout`]);
    } finally {
      await listener.quit();
    }
  });
});

describe("a socket lives no longer than its sign-in", () => {
  let stack: Stack;
  /** Checks its sockets' sessions every 200 ms, and one that checks only once a minute (so only the events' own checks act). */
  let quick: WebNode;
  let slow: WebNode;
  before(async () => {
    stack = await startStack({ workers: 0, env: authEnv() });
    const log = pino({ level: "silent" });
    quick = await startWebNode(loadConfig(stack.env), log, undefined, { sessionCheckMs: 200 });
    slow = await startWebNode(loadConfig(stack.env), log, undefined, { sessionCheckMs: 60_000 });
  });
  after(async () => {
    await Promise.all([quick?.close(), slow?.close()]);
    await stack.close();
  });

  /** Signs alice in, opens a socket with her cookie, and returns it with her session's Redis key. */
  async function aliceSocket(node: WebNode): Promise<{ socket: TestSocket; sessionKey: string; ended: Promise<string> }> {
    const cookie = await signIn(node.url, "alice", PASSWORDS.alice);
    const socket = await stack.connectSocket(node, { reconnection: false, extraHeaders: { Cookie: cookie, Origin: originOf(node.url) } });
    const ended = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the socket was not disconnected within 5 s")), 5000);
      socket.once("disconnect", (reason) => {
        clearTimeout(timer);
        resolve(reason);
      });
    });
    ended.catch(() => undefined);
    const sessionId = cookie.split("=")[1].split(".")[0];
    return { socket, sessionKey: `${stack.config.KEY_PREFIX}:session:${sessionId}`, ended };
  }

  test("a socket whose session expires in Redis is disconnected within the check period, and hears no more audit entries", async () => {
    const { socket, sessionKey, ended } = await aliceSocket(quick);
    const { socket: other, sessionKey: otherKey } = await aliceSocket(quick);
    assert.equal(await stack.redis.exists(sessionKey), 1);
    const audited: string[] = [];
    socket.on("audit:entry", (entry) => audited.push(entry.action));
    await stack.redis.pexpire(sessionKey, 1);
    const started = Date.now();
    assert.equal(await ended, "io server disconnect");
    assert.ok(Date.now() - started < 3000, `disconnected after ${Date.now() - started} ms`);
    // The other session's socket stays.
    assert.equal(await stack.redis.exists(otherKey), 1);
    assert.ok(other.connected, "a socket with a live session stays connected");
    await rawRequest(quick.url, { method: "POST", path: "/api/broadcasts", body: { message: "after the end" }, headers: bearer(TOKENS.ci) });
    assert.deepEqual(audited, []);
  });

  test("a socket whose session is deleted (sign-out elsewhere, an operator's DEL) is disconnected too", async () => {
    const { sessionKey, ended } = await aliceSocket(quick);
    await stack.redis.del(sessionKey);
    assert.equal(await ended, "io server disconnect");
  });

  test("streams:follow and broadcast:follow from a socket whose session ended are refused, and the socket is closed", async () => {
    for (const follow of [(s: TestSocket) => s.timeout(5000).emitWithAck("streams:follow", ["tasks"]), (s: TestSocket) => s.timeout(5000).emitWithAck("broadcast:follow", ["general"])]) {
      const { socket, sessionKey, ended } = await aliceSocket(slow);
      assert.ok(!("error" in (await follow(socket))), "followed while signed in");
      await stack.redis.del(sessionKey);
      const answer = await follow(socket).catch((err: Error) => ({ error: err.message }));
      assert.ok("error" in answer, JSON.stringify(answer));
      assert.match(String(answer.error), /session has ended; sign in again/);
      assert.equal(await ended, "io server disconnect");
    }
  });
});

describe("a client pays for the work its requests cause, over all its connections", () => {
  let stack: Stack;
  let url: string;
  before(async () => {
    const viewers = Object.entries(VIEWERS).map(([name, token]) => `${name}:viewer:${token}`);
    stack = await startStack({ workers: 0, env: { ...authEnv(viewers), API_RATE: "1", API_BURST: "20", SOCKETS_PER_PRINCIPAL: "3" } });
    url = stack.nodes[0].url;
  });
  after(() => stack.close());

  const get = (path: string, token: string) => rawRequest(url, { path, headers: bearer(token) });

  test("a search that reads 2,000 records costs 20 requests: the client's next request is 429, other clients are not limited", async () => {
    for (let i = 0; i < 2; i++) {
      const tasks = Array.from({ length: 1000 }, (_, n) => ({ type: "echo", payload: { n } }));
      const res = await rawRequest(url, { method: "POST", path: "/api/tasks/batch", body: { tasks }, headers: bearer(TOKENS.ci) });
      assert.equal(res.status, 202, res.text);
    }
    const search = await get("/api/tasks/search?q=matches-nothing", VIEWERS.searcher);
    assert.equal(search.status, 200, search.text);
    assert.deepEqual(search.body.tasks, []);
    const next = await get("/api/queue", VIEWERS.searcher);
    assert.equal(next.status, 429, next.text);
    assert.match(String(next.headers["retry-after"]), /^[1-9]\d*$/);
    assert.equal((await get("/api/queue", TOKENS.grafana)).status, 200, "another client is not limited");
    // With what one second refills, a search reads one token's worth (100 records) and says where to continue.
    await new Promise((r) => setTimeout(r, Number(next.headers["retry-after"]) * 1000 + 100));
    const short = await get("/api/tasks/search?q=matches-nothing", VIEWERS.searcher);
    assert.equal(short.status, 200, short.text);
    assert.deepEqual(short.body.tasks, []);
    assert.ok(short.body.nextCursor, "stopped early, with a cursor to continue from");
  });

  test("an audit query that scans 10,000 entries costs 20 requests: the client's next request is 429", async () => {
    const pipeline = stack.redis.pipeline();
    const actor = JSON.stringify({ kind: "user", name: "someone", role: "operator" });
    for (let i = 0; i < 10_000; i++) pipeline.xadd(`${stack.config.KEY_PREFIX}:audit`, "*", "at", new Date().toISOString(), "action", "broadcast.send", "actor", actor, "target", String(i), "detail", "", "ip", "127.0.0.1", "via", "http");
    await pipeline.exec();
    const page = await get("/api/audit?actor=nobody-at-all", VIEWERS.auditor);
    assert.equal(page.status, 200, page.text);
    assert.deepEqual(page.body.entries, []);
    const next = await get("/api/queue", VIEWERS.auditor);
    assert.equal(next.status, 429, next.text);
  });

  test("one user or token may hold SOCKETS_PER_PRINCIPAL sockets on a node; the next is refused with a clear error", async () => {
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 3; i++) sockets.push(await stack.connectSocket(url, { reconnection: false, auth: { token: VIEWERS.watcher } }));
    const refused = await stack.connectSocket(url, { reconnection: false, auth: { token: VIEWERS.watcher } }).then(
      () => "connected",
      (err: Error) => err.message,
    );
    assert.match(refused, /watcher already has 3 connections to this web node, the most allowed \(SOCKETS_PER_PRINCIPAL\)/);
    // Another token is not affected, and a closed socket frees its place.
    await stack.connectSocket(url, { reconnection: false, auth: { token: TOKENS.grafana } });
    const closed = new Promise((resolve) => sockets[0].once("disconnect", resolve));
    sockets[0].disconnect();
    await closed;
    await waitForConnect(() => stack.connectSocket(url, { reconnection: false, auth: { token: VIEWERS.watcher } }));
  });

  test("socket events are limited per user or token, not per connection", async () => {
    const [a, b] = [await stack.connectSocket(url, { auth: { token: VIEWERS.chatty } }), await stack.connectSocket(url, { auth: { token: VIEWERS.chatty } })];
    const follow = (s: TestSocket) => s.timeout(5000).emitWithAck("streams:follow", ["tasks"]);
    const replies = await Promise.all([...Array.from({ length: 15 }, () => follow(a)), ...Array.from({ length: 15 }, () => follow(b))]);
    const refused = replies.filter((r) => "error" in r);
    assert.ok(refused.length >= 10, `${refused.length} of 30 refused with a burst of 20`);
    assert.match((refused[0] as { error: string }).error, /Too many socket events from chatty: at most 1 a second \(bursts of 20\)/);
  });

  test("broadcast:follow pays for the history it reads: following a quiet channel over 1,000 broadcasts twice uses up the burst", async () => {
    const history = `${stack.config.KEY_PREFIX}:broadcast:history`;
    const pipeline = stack.redis.pipeline();
    for (let i = 1; i <= 1000; i++) pipeline.lpush(history, JSON.stringify({ id: String(i), message: `m${i}`, channel: "busy", source: "redis", at: new Date().toISOString() }));
    pipeline.set(`${stack.config.KEY_PREFIX}:broadcast:seq`, "1000");
    await pipeline.exec();
    const socket = await stack.connectSocket(url, { auth: { token: VIEWERS.follower } });
    const replies: Array<Awaited<ReturnType<TestSocket["emitWithAck"]>>> = [];
    for (let i = 0; i < 5; i++) replies.push(await socket.timeout(5000).emitWithAck("broadcast:follow", ["quiet"]));
    const done = replies.filter((r) => !("error" in r));
    assert.ok(done.length <= 2, `${done.length} of 5 follows were served`);
    assert.match(String(replies.find((r) => "error" in r)?.error), /Too many socket events from follower/);
  });

  test("the catch-up a socket gets on connecting reads only what the client's tokens pay for; past that the tab is told it missed some", async () => {
    const history = `${stack.config.KEY_PREFIX}:broadcast:history`;
    const pipeline = stack.redis.pipeline().del(history);
    for (let i = 1; i <= 1000; i++) pipeline.lpush(history, JSON.stringify({ id: String(i), message: `m${i}`, channel: "busy", source: "redis", at: new Date().toISOString() }));
    pipeline.set(`${stack.config.KEY_PREFIX}:broadcast:seq`, "1000");
    await pipeline.exec();
    // Reconnecting again and again, each time "missing" all 1,000 (API_BURST 20: 2,000 records at first).
    const caughtUp: Array<{ broadcasts: unknown[]; gap: boolean }> = [];
    for (let i = 0; i < 4; i++) {
      let catchUp: Promise<{ broadcasts: unknown[]; gap: boolean }> | undefined;
      const socket = await waitForConnect(() => stack.connectSocket(url, { auth: { token: VIEWERS.reconnector, lastBroadcastId: "0" } }, (s) => void (catchUp = new Promise((resolve) => s.once("broadcast:catchup", resolve)))));
      caughtUp.push(await catchUp!);
      socket.disconnect();
    }
    assert.equal(caughtUp[0].broadcasts.length, 1000);
    const last = caughtUp.at(-1)!;
    assert.ok(last.broadcasts.length < 1000 && last.gap, `the 4th catch-up: ${last.broadcasts.length} broadcasts, gap ${last.gap}`);
  });
});

/** Connects, trying again while the server has not yet seen the previous socket go. */
async function waitForConnect(connect: () => Promise<TestSocket>): Promise<TestSocket> {
  for (let tries = 0; ; tries++) {
    try {
      return await connect();
    } catch (err) {
      if (tries > 50) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
