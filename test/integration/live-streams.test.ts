// Choosing live streams over real Socket.IO on two web nodes: a socket receives only the streams it follows
// (stated in its handshake or with `streams:follow`), one that says nothing receives them all, as before.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { LIVE_STREAMS, type LiveStream, type SubmitAck } from "../../lib/contract";
import { STREAM_EVENTS, type ServerToClientEvents, type StreamsAck } from "../../lib/socket-events";
import { eventually, nextEvent, postJson, startStack, type Stack, type TestSocket } from "../helpers/stack";

type EventName = keyof ServerToClientEvents;

/** Every event a socket receives, in order, from before its connection opens. */
function recorder(): { events: EventName[]; count(event: EventName): number; listen(socket: TestSocket): void } {
  const events: EventName[] = [];
  return {
    events,
    count: (event) => events.filter((e) => e === event).length,
    listen: (socket) => socket.onAny((event: EventName) => events.push(event)),
  };
}

const follow = (socket: TestSocket, streams: LiveStream[] | null) => socket.timeout(5000).emitWithAck("streams:follow", streams) as Promise<StreamsAck>;

const VALID_NAMES = /tasks, queue, queues, workers, web-nodes, stats, presence, health, channels/;

describe("live streams", () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 1, env: { WORKER_CONCURRENCY: "2" } });
  });
  after(() => stack.close());

  test("a socket that follows only stats gets stats:tick and none of the other streams while tasks run; a default socket gets them all", async () => {
    const picky = recorder();
    const everything = recorder();
    await stack.connectSocket(stack.nodes[0], { auth: { streams: ["stats"] } }, picky.listen);
    const all = await stack.connectSocket(stack.nodes[0], {}, everything.listen);

    // Tasks submitted on the other node: their updates come from it and from the worker, through the adapter.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await postJson(stack.nodes[1], "/api/tasks", { type: "sleep", payload: { ms: 300 } })).body.id);
    // A schedule made on the other node: its change is pushed (the schedules stream is pushed only on change).
    assert.equal((await postJson(stack.nodes[1], "/api/schedules", { name: "pushed", cron: "0 0 1 1 *", type: "echo" })).status, 201);
    const succeeded = new Set<string>();
    all.on("task:update", (t) => t.status === "succeeded" && succeeded.add(t.id));
    await eventually(async () => (ids.every((id) => succeeded.has(id)) ? true : undefined), "the default socket to see every task succeed");
    // A few seconds of every once-a-second stream, as the default socket sees them.
    await eventually(
      async () => (picky.count("stats:tick") >= 3 && (["workers:update", "web-nodes:update", "stats:tick"] as const).every((e) => everything.count(e) >= 3) ? true : undefined),
      "three seconds of pushes",
    );

    for (const stream of LIVE_STREAMS) {
      if (stream !== "queue" && stream !== "queues") assert.ok(everything.count(STREAM_EVENTS[stream]) > 0, `the default socket got ${STREAM_EVENTS[stream]}`);
      if (stream !== "stats") assert.equal(picky.count(STREAM_EVENTS[stream]), 0, `the stats-only socket got no ${STREAM_EVENTS[stream]}`);
    }
    // Not streams: the broadcast catch-up comes on every connection.
    assert.equal(picky.count("broadcast:catchup"), 1);
  });

  test("a socket that follows no stream still gets the broadcasts of its channels", async () => {
    const none = recorder();
    const socket = await stack.connectSocket(stack.nodes[1], { auth: { streams: [], channels: null } }, none.listen);
    const marker = `streams-none-${Date.now()}`;
    const arrived = nextEvent(socket, "broadcast", (b) => b.message === marker);
    assert.equal((await postJson(stack.nodes[0], "/api/broadcasts", { message: marker })).status, 202);
    await arrived;
    for (const stream of LIVE_STREAMS) assert.equal(none.count(STREAM_EVENTS[stream]), 0, `no ${STREAM_EVENTS[stream]}`);
  });

  test("streams:follow replaces the selection, answers with it, and sends the current value of each newly followed on-change stream before the answer", async () => {
    const seen = recorder();
    const clock = recorder();
    const socket = await stack.connectSocket(stack.nodes[0], { auth: { streams: ["stats"] } }, seen.listen);
    await stack.connectSocket(stack.nodes[0], {}, clock.listen);
    // The node has a value of each on-change stream once a default socket has been sent one (queue stats: since
    // its first sample, read as it started).
    await eventually(async () => (["health", "presence", "broadcast:channels"] as const).every((e) => clock.count(e) > 0) || undefined, "the node's health, presence and channels");
    // The broadcast catch-up, sent after every connection, is not a stream: let it arrive first.
    await eventually(async () => (seen.count("broadcast:catchup") === 1 ? true : undefined), "the catch-up");

    seen.events.length = 0;
    const ack = await follow(socket, ["health", "queue", "tasks", "presence", "channels", "health"]);
    // Each once, in LIVE_STREAMS order; stats is no longer followed.
    assert.deepEqual(ack, { streams: ["tasks", "queue", "presence", "health", "channels"] });
    // (A stats:tick may have been on its way before the change.)
    const snapshots = seen.events.filter((e) => e !== "stats:tick");
    assert.deepEqual(snapshots.sort(), ["broadcast:channels", "health", "presence", "queue:stats"], seen.events.join());

    // Following streams already followed sends nothing again.
    seen.events.length = 0;
    assert.deepEqual(await follow(socket, ["health", "tasks"]), { streams: ["tasks", "health"] });
    assert.deepEqual(seen.events, []);

    // Now it gets task updates, and no stats:tick while the default socket gets three.
    seen.events.length = 0;
    const updated = nextEvent(socket, "task:update", (t) => t.type === "echo" && t.status === "succeeded");
    const submitted = (await socket.timeout(5000).emitWithAck("task:submit", { type: "echo", payload: { n: 1 } })) as SubmitAck;
    assert.ok("id" in submitted, JSON.stringify(submitted));
    assert.equal((await updated).id, submitted.id);
    const ticks = clock.count("stats:tick");
    await eventually(async () => (clock.count("stats:tick") >= ticks + 3 ? true : undefined), "three more stats ticks on the default socket");
    assert.equal(seen.count("stats:tick"), 0);

    // null: every stream again (stats:tick included); []: none.
    assert.deepEqual(await follow(socket, null), { streams: [...LIVE_STREAMS] });
    await nextEvent(socket, "stats:tick", () => true);
    assert.deepEqual(await follow(socket, []), { streams: [] });
  });

  test("a socket that follows only health is sent the current health at once when it connects, and nothing else", async () => {
    const seen = recorder();
    await stack.connectSocket(stack.nodes[1], { auth: { streams: ["health"] } }, seen.listen);
    await eventually(async () => (seen.count("broadcast:catchup") === 1 && seen.count("health") === 1 ? true : undefined), "the catch-up and the health snapshot");
    assert.deepEqual(
      seen.events.filter((e) => e !== "broadcast:catchup"),
      ["health"],
    );
  });

  test("a handshake naming an unknown stream is refused with an error naming the valid streams", async () => {
    await assert.rejects(stack.connectSocket(stack.nodes[0], { auth: { streams: ["stats", "bogus"] }, reconnection: false }), (err: Error) => {
      assert.match(err.message, /^Invalid handshake: streams\.1: "bogus" is not a live stream/);
      assert.match(err.message, VALID_NAMES);
      return true;
    });
    await assert.rejects(stack.connectSocket(stack.nodes[0], { auth: { streams: "stats" }, reconnection: false }), (err: Error) => {
      assert.match(err.message, /^Invalid handshake: streams: must be an array of stream names/);
      assert.match(err.message, VALID_NAMES);
      return true;
    });
  });

  test("streams:follow with an unknown stream or not a list is answered with an error naming the valid streams, and changes nothing", async () => {
    const socket = await stack.connectSocket(stack.nodes[0], { auth: { streams: ["stats"] } });
    const unknown = await follow(socket, ["tasks", "nope" as LiveStream]);
    assert.ok("error" in unknown, JSON.stringify(unknown));
    assert.match(unknown.error, /^Invalid streams: streams\.1: "nope" is not a live stream/);
    assert.match(unknown.error, VALID_NAMES);
    const notList = await follow(socket, "stats" as never);
    assert.ok("error" in notList, JSON.stringify(notList));
    assert.match(notList.error, VALID_NAMES);
    // Still following stats.
    await nextEvent(socket, "stats:tick", () => true);
  });
});
