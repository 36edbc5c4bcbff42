// Socket.IO across two real web nodes joined by the Redis adapter: task events and broadcasts, exactly once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRequire } from "node:module";
import type { Broadcast, SubmitAck, TaskRecord } from "../../lib/contract";
import { eventually, nextEvent, postJson, startStack, type Stack, type TestSocket } from "../helpers/stack";

// The ws that engine.io writes with (untyped here: no @types/ws).
const { Sender } = createRequire(import.meta.url)("ws") as { Sender: { prototype: object } };

describe("realtime across two web nodes", () => {
  let stack: Stack;
  let a: TestSocket;
  let b: TestSocket;
  const received = new Map<TestSocket, Broadcast[]>();

  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 1, env: { WORKER_CONCURRENCY: "2" } });
    a = await stack.connectSocket(stack.nodes[0]);
    b = await stack.connectSocket(stack.nodes[1]);
    for (const s of [a, b]) {
      received.set(s, []);
      s.on("broadcast", (msg) => received.get(s)!.push(msg));
    }
  });
  after(() => stack.close());

  test("task:submit acknowledges with an id, and tabs on both nodes see it run and succeed", async () => {
    const seenByB = nextEvent(b, "task:update", (t) => t.status === "succeeded" && t.type === "sleep");
    const runningOnA = nextEvent(a, "task:update", (t) => t.status === "running" && t.type === "sleep");
    const ack = (await a.timeout(5000).emitWithAck("task:submit", { type: "sleep", payload: { ms: 600 } })) as SubmitAck;
    assert.ok("id" in ack, JSON.stringify(ack));
    const running = await runningOnA;
    assert.equal(running.id, ack.id);
    const done = (await seenByB) as TaskRecord;
    assert.equal(done.id, ack.id);
    assert.equal(done.progress, 1);
  });

  test("a sleep task reports progress between 0 and 1 while it runs", async () => {
    const progress: number[] = [];
    const onUpdate = (t: TaskRecord) => t.status === "running" && progress.push(t.progress);
    b.on("task:update", onUpdate);
    const finished = nextEvent(b, "task:update", (t) => t.status === "succeeded" && t.type === "sleep");
    const ack = (await a.timeout(5000).emitWithAck("task:submit", { type: "sleep", payload: { ms: 1500 } })) as SubmitAck;
    assert.ok("id" in ack);
    await finished;
    b.off("task:update", onUpdate);
    assert.ok(progress.some((p) => p > 0.2 && p < 0.95), `saw progress ${progress.join(", ")}`);
  });

  test("the worker runs at most WORKER_CONCURRENCY tasks at once", async () => {
    const running = new Set<string>();
    let most = 0;
    const ids = new Set<string>();
    const onUpdate = (t: TaskRecord) => {
      if (!ids.has(t.id)) return;
      if (t.status === "running") running.add(t.id);
      else running.delete(t.id);
      most = Math.max(most, running.size);
    };
    a.on("task:update", onUpdate);
    for (let i = 0; i < 5; i++) {
      const ack = (await a.timeout(5000).emitWithAck("task:submit", { type: "sleep", payload: { ms: 400 } })) as SubmitAck;
      assert.ok("id" in ack);
      ids.add(ack.id);
    }
    await eventually(async () => {
      const res = await fetch(`${stack.nodes[0].url}/api/tasks?status=succeeded&limit=100`);
      const { tasks } = (await res.json()) as { tasks: TaskRecord[] };
      return [...ids].every((id) => tasks.some((t) => t.id === id)) || undefined;
    }, "five sleep tasks to succeed");
    a.off("task:update", onUpdate);
    assert.equal(most, 2);
  });

  test("bad socket input is answered with a clear error", async () => {
    const unknown = (await a.timeout(5000).emitWithAck("task:submit", { type: "nope", payload: {} })) as SubmitAck;
    assert.ok("error" in unknown && /Unknown task type/.test(unknown.error));
    const wrong = (await a.timeout(5000).emitWithAck("task:submit", "garbage" as never)) as SubmitAck;
    assert.ok("error" in wrong && /Invalid task/.test(wrong.error));
    const empty = (await a.timeout(5000).emitWithAck("broadcast:send", { message: "" })) as SubmitAck;
    assert.ok("error" in empty && /must not be empty/.test(empty.error));
    const big = (await a.timeout(5000).emitWithAck("broadcast:send", { message: "x".repeat(5000) })) as SubmitAck;
    assert.ok("error" in big && /at most 4096 bytes/.test(big.error));
  });

  test("broadcasts from a tab, the HTTP API and a Redis PUBLISH reach each tab on each node exactly once, in the same order", async () => {
    for (const list of received.values()) list.length = 0;
    const ack = (await a.timeout(5000).emitWithAck("broadcast:send", { message: "from tab" })) as SubmitAck;
    assert.ok("id" in ack);
    const res = await postJson(stack.nodes[1], "/api/broadcasts", { message: "from api" });
    assert.equal(res.status, 202);
    await stack.redis.publish(stack.config.BROADCAST_CHANNEL, "plain from redis");
    await stack.redis.publish(stack.config.BROADCAST_CHANNEL, JSON.stringify({ message: "json from redis" }));
    const expected = ["from tab", "from api", "plain from redis", "json from redis"];
    for (const [socket, list] of received) {
      await eventually(async () => (list.length >= expected.length ? true : undefined), `${expected.length} broadcasts on ${socket.id}`);
    }
    // A sentinel through the same path proves nothing else is still on its way.
    await stack.redis.publish(stack.config.BROADCAST_CHANNEL, "sentinel");
    for (const list of received.values()) await eventually(async () => (list.some((m) => m.message === "sentinel") ? true : undefined), "the sentinel");
    const [listA, listB] = [...received.values()];
    assert.deepEqual(listA.map((m) => m.message), [...expected, "sentinel"]);
    assert.deepEqual(listB.map((m) => m.id), listA.map((m) => m.id));
    assert.deepEqual(listA.map((m) => m.source), ["dashboard", "api", "redis", "redis", "redis"]);
    const ids = listA.map((m) => Number(m.id));
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
  });

  test("an outside subscriber sees dashboard and API broadcasts stamped on the public channel", async () => {
    const sub = stack.redis.duplicate();
    const seen: string[] = [];
    sub.on("message", (_channel: string, raw: string) => seen.push(raw));
    await sub.subscribe(stack.config.BROADCAST_CHANNEL);
    await postJson(stack.nodes[0], "/api/broadcasts", { message: "for outside listeners" });
    const raw = await eventually(async () => seen.find((r) => r.includes("for outside listeners")), "the stamped echo");
    const echoed = JSON.parse(raw) as Broadcast;
    assert.equal(echoed.source, "api");
    assert.equal(seen.length, 1);
    await sub.quit();
  });

  test("a broadcast goes out as one WebSocket frame encoded once per node and shared by its tabs, uncompressed", async () => {
    // Socket.IO reuses one encoded frame for every socket only for a single-string packet with perMessageDeflate
    // off; otherwise each socket's write encodes (and compresses) the packet again. Watch which path carries it.
    const marker = `frame-${Date.now()}`;
    const shared: Buffer[] = [];
    let encodedPerSocket = 0;
    const proto = Sender.prototype as unknown as { sendFrame(list: Buffer[], cb?: unknown): void; send(data: unknown, options: unknown, cb?: unknown): void };
    const { sendFrame, send } = proto;
    proto.sendFrame = function (this: unknown, list, cb) {
      const data = list.at(-1);
      if (data?.includes(marker)) shared.push(data);
      return sendFrame.call(this, list, cb);
    };
    proto.send = function (this: unknown, data, options, cb) {
      if (String(data).includes(marker)) encodedPerSocket++;
      return send.call(this, data, options, cb);
    };
    // The new tab's catch-up (history read after it joined) must be out first: under load it can be read after the
    // marker is recorded, and carry it in its own per-socket packet, as it should.
    let caughtUp: Promise<void> | undefined;
    const c = await stack.connectSocket(stack.nodes[0], {}, (socket) => void (caughtUp = new Promise((resolve) => socket.once("broadcast:catchup", () => resolve()))));
    await caughtUp;
    try {
      const arrived = [a, b, c].map((s) => nextEvent(s, "broadcast", (m) => m.message === marker));
      await stack.redis.publish(stack.config.BROADCAST_CHANNEL, marker);
      await Promise.all(arrived);
      assert.equal(encodedPerSocket, 0, "no socket encoded the broadcast itself");
      assert.equal(shared.length, 3, "one pre-encoded frame write per tab");
      // a and c are on node 0: the very same buffer went to both.
      assert.equal(new Set(shared).size, 2, "one encoded frame per node");
    } finally {
      proto.sendFrame = sendFrame;
      proto.send = send;
      c.disconnect();
    }
  });
});
