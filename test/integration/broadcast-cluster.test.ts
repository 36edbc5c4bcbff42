// Broadcasts across several real web nodes and real Redis: exactly once and in order for every tab,
// catch-up after drops and node restarts, channels, presence, limits, and an ingest-lease holder's crash.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Broadcast, BroadcastCatchUp, Presence, SubmitAck } from "../../lib/contract";
import { compareIds } from "../../lib/live-state";
import type { FollowAck } from "../../lib/socket-events";
import type { ManagerOptions } from "socket.io-client";
import { freePort, spawnWebNode } from "../helpers/processes";
import { api, eventually, postJson, startStack, type Stack, type TestSocket } from "../helpers/stack";

/** Everything a socket receives live, in arrival order. */
function record(socket: TestSocket): Broadcast[] {
  const got: Broadcast[] = [];
  socket.on("broadcast", (b) => got.push(b));
  return got;
}

/**
 * A socket that, like a tab, sends the last id it has on every (re)connection and keeps what catch-up
 * brings. Resolves once the first connection's catch-up (the recent history, skipped here) has arrived.
 */
async function tab(stack: Stack, nodeUrl: string, channels: string[] | null = null, options: Partial<ManagerOptions> = {}) {
  const state = { lastId: null as string | null, gaps: 0, initial: true };
  const got: Broadcast[] = [];
  const keep = (b: Broadcast) => {
    got.push(b);
    if (state.lastId === null || compareIds(b.id, state.lastId) > 0) state.lastId = b.id;
  };
  let ready!: () => void;
  const first = new Promise<void>((resolve) => (ready = resolve));
  const auth = (cb: (auth: object) => void) => {
    state.initial = state.lastId === null;
    cb({ channels, lastBroadcastId: state.lastId });
  };
  const listen = (socket: TestSocket) => {
    socket.on("broadcast", keep);
    socket.on("broadcast:catchup", (c: BroadcastCatchUp) => {
      if (state.initial) {
        // Recent history (earlier tests' broadcasts): start after it instead.
        state.initial = false;
        state.lastId ??= c.latestId ?? "0";
      } else {
        if (c.gap) state.gaps++;
        // Catch-up may overlap live events by design; a tab keeps one copy per id.
        for (const b of c.broadcasts) if (!got.some((g) => g.id === b.id)) keep(b);
      }
      ready();
    });
  };
  // Handlers go on before the connection opens: the catch-up can arrive in the same read as the handshake.
  const socket = await stack.connectSocket(nodeUrl, { auth, ...options }, listen);
  await Promise.race([first, new Promise((_, reject) => setTimeout(() => reject(new Error("no catch-up on connection within 10 s")), 10_000).unref())]);
  return { socket, got, state };
}

const send = (socket: TestSocket, message: string, channel?: string) => socket.timeout(5000).emitWithAck("broadcast:send", { message, ...(channel ? { channel } : {}) }) as Promise<SubmitAck>;

describe("broadcasts across two web nodes", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 0 });
  });
  after(() => stack.close());

  test("500 broadcasts from tabs, the API and Redis PUBLISH reach 50 connections on two nodes exactly once, in the same order", async () => {
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 50; i++) sockets.push(await stack.connectSocket(stack.nodes[i % 2]));
    const received = sockets.map(record);
    const expected = new Set<string>();
    const fromTabs = Array.from({ length: 167 }, (_, i) => `tab-${i}`);
    const fromApi = Array.from({ length: 167 }, (_, i) => `api-${i}`);
    const fromRedis = Array.from({ length: 166 }, (_, i) => `redis-${i}`);
    for (const m of [...fromTabs, ...fromApi, ...fromRedis]) expected.add(m);
    await Promise.all([
      // Spread over the connections, each well under its rate limit.
      Promise.all(fromTabs.map(async (m, i) => assert.ok("id" in (await send(sockets[i % 50], m))))),
      (async () => {
        for (let i = 0; i < fromApi.length; i += 10) {
          await Promise.all(fromApi.slice(i, i + 10).map(async (m, j) => assert.equal((await postJson(stack.nodes[j % 2], "/api/broadcasts", { message: m })).status, 202)));
        }
      })(),
      (async () => {
        for (const m of fromRedis) await stack.redis.publish(stack.config.BROADCAST_CHANNEL, m);
      })(),
    ]);
    await eventually(async () => (received.every((r) => r.length >= 500) ? true : undefined), "every connection to receive 500 broadcasts", 30_000);
    await new Promise((r) => setTimeout(r, 300)); // any duplicate would arrive by now
    const order = received[0].map((b) => b.id);
    assert.deepEqual(new Set(received[0].map((b) => b.message)), expected);
    for (const r of received) {
      assert.equal(r.length, 500, "exactly once");
      assert.deepEqual(r.map((b) => b.id), order, "the same order on every connection");
    }
    assert.deepEqual([...order].sort(compareIds), order, "in id order");
    for (const s of sockets) s.disconnect();
  });

  test("a tab whose connection drops receives every broadcast it missed, in order, once", async () => {
    // Reconnects by itself 1.5 s after the drop, as a tab does.
    const a = await tab(stack, stack.nodes[0].url, null, { reconnectionDelay: 1500, randomizationFactor: 0 });
    await send(a.socket, "before the drop");
    await eventually(async () => (a.got.some((b) => b.message === "before the drop") ? true : undefined), "the first broadcast");
    const dropped = new Promise((resolve) => a.socket.once("disconnect", resolve));
    a.socket.io.engine.close(); // the network goes away under the socket
    await dropped;
    for (let i = 0; i < 5; i++) await postJson(stack.nodes[1], "/api/broadcasts", { message: `missed ${i}` });
    await eventually(async () => (a.got.filter((b) => b.message.startsWith("missed")).length === 5 ? true : undefined), "the missed broadcasts");
    await send(a.socket, "after the drop");
    await eventually(async () => (a.got.some((b) => b.message === "after the drop") ? true : undefined), "the next broadcast");
    assert.deepEqual(a.got.map((b) => b.message), ["before the drop", "missed 0", "missed 1", "missed 2", "missed 3", "missed 4", "after the drop"]);
    assert.equal(a.state.gaps, 0);
    a.socket.disconnect();
  });

  test("tabs of a web node that is stopped and restarted reconnect by themselves and catch up", async () => {
    const port = stack.nodes[1].port;
    const url = stack.nodes[1].url;
    const a = await tab(stack, url);
    const other = await tab(stack, stack.nodes[0].url);
    await stack.nodes[1].close();
    // The other node keeps serving meanwhile.
    for (let i = 0; i < 3; i++) await send(other.socket, `while down ${i}`);
    await eventually(async () => (other.got.filter((b) => b.message.startsWith("while down")).length === 3 ? true : undefined), "the other node to deliver");
    await stack.addNode(port);
    await eventually(async () => (a.got.filter((b) => b.message.startsWith("while down")).length === 3 ? true : undefined), "the restarted node's tab to catch up", 20_000);
    assert.deepEqual(a.got.filter((b) => b.message.startsWith("while down")).map((b) => b.message), ["while down 0", "while down 1", "while down 2"]);
    assert.equal(new Set(a.got.map((b) => b.id)).size, a.got.length, "no duplicates");
    a.socket.disconnect();
    other.socket.disconnect();
  });

  test("presence counts tabs across the cluster and per node", async () => {
    const [n0, n1] = [stack.nodes[0], stack.nodes.at(-1)!];
    const sockets = [await stack.connectSocket(n0), await stack.connectSocket(n0), await stack.connectSocket(n0), await stack.connectSocket(n1), await stack.connectSocket(n1)];
    const latest = new Map<TestSocket, Presence>();
    for (const s of sockets) s.on("presence", (p) => latest.set(s, p));
    const counts = (p: Presence) => p.nodes.map((n) => n.connections).join(",");
    await eventually(async () => (sockets.every((s) => latest.get(s)?.total === 5 && counts(latest.get(s)!) !== "") ? true : undefined), "every tab to see 5 tabs");
    assert.deepEqual(latest.get(sockets[4])!.nodes.map((n) => n.connections).sort(), [2, 3]);
    sockets[0].disconnect();
    sockets[3].disconnect();
    await eventually(async () => (latest.get(sockets[1])?.total === 3 && latest.get(sockets[4])?.total === 3 ? true : undefined), "presence to drop to 3");
    const { body } = await api(n0, "/api/presence");
    assert.equal(body.total, 3);
    for (const s of sockets) s.disconnect();
  });
});

describe("broadcast channels and limits", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 0, env: { BROADCAST_HISTORY: "10" } });
  });
  after(() => stack.close());

  test("a tab gets only the channels it follows, from every source, and can change them", async () => {
    const ops = await tab(stack, stack.nodes[0].url, ["ops"]);
    const all = await tab(stack, stack.nodes[1].url);
    await send(all.socket, "general news");
    assert.equal((await postJson(stack.nodes[0], "/api/broadcasts", { message: "ops via api", channel: "ops" })).status, 202);
    await stack.redis.publish(stack.config.BROADCAST_CHANNEL, JSON.stringify({ message: "ops via redis", channel: "ops" }));
    await stack.redis.publish(stack.config.BROADCAST_CHANNEL, JSON.stringify({ message: "billing via redis", channel: "billing" }));
    // Outside publishes are ingested asynchronously: only once they are logged does a later send have to come after them.
    await eventually(async () => (all.got.some((b) => b.message === "billing via redis") ? true : undefined), "the outside publishes");
    await send(all.socket, "ops sentinel", "ops");
    await eventually(async () => (ops.got.some((b) => b.message === "ops sentinel") && all.got.some((b) => b.message === "ops sentinel") ? true : undefined), "the sentinel");
    assert.deepEqual(ops.got.map((b) => b.message), ["ops via api", "ops via redis", "ops sentinel"]);
    assert.deepEqual(all.got.map((b) => `${b.channel}:${b.message}`), ["general:general news", "ops:ops via api", "ops:ops via redis", "billing:billing via redis", "ops:ops sentinel"]);
    // Follow billing instead: the ack brings its recent history, and ops stops arriving.
    const ack = (await ops.socket.timeout(5000).emitWithAck("broadcast:follow", ["billing"])) as FollowAck;
    assert.ok("broadcasts" in ack, JSON.stringify(ack));
    assert.deepEqual(ack.broadcasts.map((b) => b.message), ["billing via redis"]);
    await send(all.socket, "ops again", "ops");
    await send(all.socket, "billing again", "billing");
    await eventually(async () => (ops.got.some((b) => b.message === "billing again") ? true : undefined), "billing to arrive");
    assert.ok(!ops.got.some((b) => b.message === "ops again"));
    const channels = (await api(stack.nodes[0], "/api/broadcasts/channels")).body.channels as string[];
    assert.deepEqual([...channels].sort(), ["billing", "general", "ops"]);
    const bad = (await ops.socket.timeout(5000).emitWithAck("broadcast:follow", ["no spaces"])) as FollowAck;
    assert.match("error" in bad ? bad.error : "", /channel must be/);
    assert.equal((await postJson(stack.nodes[0], "/api/broadcasts", { message: "x", channel: "bad channel" })).status, 400);
    ops.socket.disconnect();
    all.socket.disconnect();
  });

  test("a tab away for longer than the history is told about the gap and gets what is kept", async () => {
    const a = await tab(stack, stack.nodes[0].url);
    await send(a.socket, "seen");
    await eventually(async () => (a.got.some((b) => b.message === "seen") ? true : undefined), "the first broadcast");
    a.socket.disconnect();
    for (let i = 0; i < 15; i++) await postJson(stack.nodes[1], "/api/broadcasts", { message: `long away ${i}` });
    a.socket.connect();
    await eventually(async () => (a.state.gaps === 1 ? true : undefined), "the gap to be reported");
    await eventually(async () => (a.got.some((b) => b.message === "long away 14") ? true : undefined), "the kept broadcasts");
    // The last one may arrive live before the catch-up (node 0 relays it as the tab reconnects): a tab orders by id.
    const kept = a.got.filter((b) => b.message.startsWith("long away")).sort((x, y) => compareIds(x.id, y.id));
    assert.deepEqual(kept.map((b) => b.message), Array.from({ length: 10 }, (_, i) => `long away ${i + 5}`));
    a.socket.disconnect();
  });

  test("a connection may send 10 broadcasts a second with bursts of 20; beyond that nothing is sent and the ack says why", async () => {
    const sender = await stack.connectSocket(stack.nodes[0]);
    const watcher = await stack.connectSocket(stack.nodes[1]);
    const seen = record(watcher);
    const acks = await Promise.all(Array.from({ length: 25 }, (_, i) => send(sender, `flood ${i}`)));
    const refused = acks.filter((a) => "error" in a);
    assert.ok(refused.length >= 4 && refused.length <= 5, `refused ${refused.length}`);
    assert.match((refused[0] as { error: string }).error, /Too many broadcasts: at most 10 a second \(bursts of 20\)/);
    const sentinel = await send(watcher, "sentinel after the flood");
    assert.ok("id" in sentinel);
    await eventually(async () => (seen.some((b) => b.message === "sentinel after the flood") ? true : undefined), "the sentinel");
    assert.equal(seen.filter((b) => b.message.startsWith("flood ")).length, acks.length - refused.length, "only accepted ones were broadcast");
    const big = await send(watcher, "x".repeat(4097));
    assert.match("error" in big ? big.error : "", /at most 4096 bytes/);
    const empty = await send(watcher, "   ");
    assert.match("error" in empty ? empty.error : "", /must not be empty/);
    sender.disconnect();
    watcher.disconnect();
  });

  test("a browser on another origin cannot open a socket; the dashboard's own origin and listed ones can", async () => {
    const node = stack.nodes[0];
    await assert.rejects(stack.connectSocket(node, { extraHeaders: { Origin: "http://evil.example" } }), /Origin not allowed|websocket error/);
    const same = await stack.connectSocket(node, { extraHeaders: { Origin: node.url } });
    same.disconnect();
    const listed = await startStack({ webNodes: 1, workers: 0, env: { ALLOWED_ORIGINS: "http://ops.example" } });
    try {
      const ok = await listed.connectSocket(listed.nodes[0], { extraHeaders: { Origin: "http://ops.example" } });
      ok.disconnect();
    } finally {
      await listed.close();
    }
  });
});

describe("ingest lease handover", () => {
  test("outside PUBLISHes keep arriving once each, in order, when the node recording them is killed with SIGKILL, and its tab catches up after its restart", async (t) => {
    const stack = await startStack({ webNodes: 0, workers: 0 });
    try {
      // The child node starts first, so it holds the ingest lease; the in-process node is the survivor.
      const port = await freePort();
      const child = await spawnWebNode(stack, { PORT: String(port) });
      const survivor = await stack.addNode();
      const socket = await stack.connectSocket(survivor);
      const got = record(socket);
      // A tab on the node that is killed: it reconnects once the node is back and catches up.
      const orphan = await tab(stack, child.url);
      let n = 0;
      const publishing = (async () => {
        for (; n < 400; n++) {
          await stack.redis.publish(stack.config.BROADCAST_CHANNEL, `outside ${n}`);
          await new Promise((r) => setTimeout(r, 25));
          if (n === 100) child.process.kill("SIGKILL");
        }
      })();
      await publishing;
      assert.equal(await child.exited, null);
      await eventually(async () => (got.length >= 400 ? true : undefined), "all 400 to arrive after the handover", 30_000);
      const restarted = await spawnWebNode(stack, { PORT: String(port) });
      const expected = Array.from({ length: 400 }, (_, i) => `outside ${i}`);
      await eventually(async () => (orphan.got.length >= 400 ? true : undefined), "the killed node's tab to catch up after the restart", 30_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(got.map((b) => b.message), expected);
      assert.deepEqual(orphan.got.map((b) => b.message), expected, "the tab of the killed node has every message once, in order");
      orphan.socket.disconnect();
      restarted.process.kill("SIGTERM");
      assert.equal(await restarted.exited, 0);
      t.diagnostic(`400 outside messages, the lease holder killed after 100: all delivered once, in order, also to its own tab after a restart`);
    } finally {
      await stack.close();
    }
  });

  test("when the lease holder stops while outside PUBLISHes and dashboard broadcasts interleave, every tab gets each once", async (t) => {
    const stack = await startStack({ webNodes: 0, workers: 0 });
    try {
      // The child node starts first, so it holds the ingest lease; the in-process node takes it over.
      const child = await spawnWebNode(stack);
      const survivor = await stack.addNode();
      const tabs = [await tab(stack, survivor.url), await tab(stack, survivor.url)];
      const expected: string[] = [];
      for (let n = 0; n < 120; n++) {
        // Dashboard broadcasts are echoed, stamped, on the public channel: every node buffers them, no one ingests them.
        expected.push(`outside ${n}`, `dashboard ${n}`);
        await stack.redis.publish(stack.config.BROADCAST_CHANNEL, `outside ${n}`);
        assert.equal((await postJson(survivor, "/api/broadcasts", { message: `dashboard ${n}` })).status, 202);
        // Messages the lease holder skips are in every buffer but not in the ingest log either.
        if (n % 10 === 0) await stack.redis.publish(stack.config.BROADCAST_CHANNEL, JSON.stringify({ message: "x", channel: "no spaces" }));
        if (n === 40) child.process.kill("SIGTERM");
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await child.exited, 0);
      await eventually(async () => (tabs.every((a) => a.got.length >= expected.length) ? true : undefined), "every message to arrive after the handover", 30_000);
      await new Promise((r) => setTimeout(r, 300)); // any duplicate would arrive by now
      for (const a of tabs) {
        assert.equal(a.got.length, expected.length, "exactly once");
        assert.deepEqual(a.got.map((b) => b.message).sort(), [...expected].sort(), "every message");
        assert.deepEqual(a.got.filter((b) => b.message.startsWith("outside")).map((b) => b.message), expected.filter((m) => m.startsWith("outside")), "outside messages in order");
        assert.deepEqual(a.got.map((b) => b.id), a.got.map((b) => b.id).sort(compareIds), "in id order");
        a.socket.disconnect();
      }
      t.diagnostic(`120 outside messages and 120 dashboard broadcasts interleaved, the lease holder stopped after 40: each delivered once to each tab`);
    } finally {
      await stack.close();
    }
  });
});
