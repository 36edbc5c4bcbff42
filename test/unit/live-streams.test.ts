// The live-stream contract and the tab's stream selection, without a server.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HandshakeAuthSchema, LIVE_STREAMS, selectedStreams, StreamSelectionSchema } from "../../lib/contract";
import { STREAM_EVENTS, streamOfEvent } from "../../lib/socket-events";
import { describeZodError } from "../../lib/zod-message";
import { StreamSelection } from "../../components/live/stream-selection";

const VALID_NAMES = "tasks, queue, queues, workers, web-nodes, stats, presence, health, channels, schedules";

test("null or absent selects every stream; a list selects each named stream once, in LIVE_STREAMS order", () => {
  assert.deepEqual(selectedStreams(null), [...LIVE_STREAMS]);
  assert.deepEqual(selectedStreams(undefined), [...LIVE_STREAMS]);
  assert.deepEqual(selectedStreams([]), []);
  assert.deepEqual(selectedStreams(["health", "tasks", "health"]), ["tasks", "health"]);
});

test("a selection with an unknown stream, or that is not a list, is refused naming every valid stream", () => {
  const unknown = StreamSelectionSchema.safeParse(["stats", "bogus"]);
  assert.equal(unknown.success, false);
  assert.equal(describeZodError(unknown.error!), `1: "bogus" is not a live stream; the streams are ${VALID_NAMES}`);
  const notList = StreamSelectionSchema.safeParse("stats");
  assert.equal(notList.success, false);
  assert.equal(describeZodError(notList.error!), `must be an array of stream names (${VALID_NAMES}), or null for all`);
  assert.equal(StreamSelectionSchema.safeParse(null).success, true);
});

test("the handshake takes streams beside the broadcast subscription, and absent streams mean all", () => {
  const parsed = HandshakeAuthSchema.parse({ channels: ["ops"], lastBroadcastId: "7", streams: ["stats"] });
  assert.deepEqual(parsed, { channels: ["ops"], lastBroadcastId: "7", streams: ["stats"] });
  assert.deepEqual(selectedStreams(HandshakeAuthSchema.parse({}).streams), [...LIVE_STREAMS]);
  assert.equal(HandshakeAuthSchema.safeParse({ streams: ["queue", "audit"] }).success, false);
});

test("each stream has its own event, and only stream events map back to a stream", () => {
  assert.deepEqual(Object.keys(STREAM_EVENTS).sort(), [...LIVE_STREAMS].sort());
  assert.equal(new Set(Object.values(STREAM_EVENTS)).size, LIVE_STREAMS.length);
  for (const stream of LIVE_STREAMS) assert.equal(streamOfEvent(STREAM_EVENTS[stream]), stream);
  assert.equal(streamOfEvent("task:update"), "tasks");
  assert.equal(streamOfEvent("broadcast:channels"), "channels");
  for (const event of ["broadcast", "broadcast:catchup", "audit:entry"] as const) assert.equal(streamOfEvent(event), undefined, event);
});

test("a tab follows the union of the streams its components hold, until the last holder of each releases it", () => {
  const selection = new StreamSelection();
  assert.deepEqual(selection.current(), []);
  const health = selection.add("health");
  const tasksA = selection.add("tasks");
  const tasksB = selection.add("tasks");
  assert.deepEqual(selection.current(), ["tasks", "health"]);
  tasksA();
  // Releasing twice counts once: the other holder still has it.
  tasksA();
  assert.deepEqual(selection.current(), ["tasks", "health"]);
  tasksB();
  assert.deepEqual(selection.current(), ["health"]);
  health();
  assert.deepEqual(selection.current(), []);
});
