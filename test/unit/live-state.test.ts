import assert from "node:assert/strict";
import { test } from "node:test";
import type { Broadcast, TaskRecord } from "../../lib/contract";
import { createBatcher } from "../../components/live/batcher";
import { compareIds, deadLetters, feedAfterFollow, isFollowed, mergeBroadcasts, mergeTasks, offeredChannels, sortTasks, toggleChannel, unconfirmedIds } from "../../lib/live-state";

const task = (id: string, version: number, status: TaskRecord["status"] = "running", createdAt = "2026-01-01T00:00:00.000Z"): TaskRecord => ({
  id,
  type: "echo",
  payload: {},
  status,
  progress: 0,
  priority: 0,
  attemptLog: [],
  attempts: 1,
  createdAt,
  version,
});
const bc = (id: string, channel = "general"): Broadcast => ({ id, message: `m${id}`, channel, source: "api", at: "2026-01-01T00:00:00.000Z" });

test("mergeTasks keeps the highest version whatever the arrival order", () => {
  let m = mergeTasks(new Map(), [task("a", 3, "succeeded")]);
  m = mergeTasks(m, [task("a", 1, "queued"), task("a", 2, "running")]);
  assert.equal(m.get("a")!.status, "succeeded");
});

test("mergeTasks drops the oldest finished tasks past the cap but keeps live ones", () => {
  const old = (i: number, status: TaskRecord["status"]) => task(`t${i}`, 1, status, new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString());
  const m = mergeTasks(new Map(), [old(1, "running"), old(2, "succeeded"), old(3, "failed"), old(4, "succeeded")], 3);
  assert.deepEqual([...m.keys()].sort(), ["t1", "t3", "t4"]);
});

test("mergeTasks evicts undiscarded dead letters only after every other finished task", () => {
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  const m = mergeTasks(
    new Map(),
    [task("dead-old", 1, "dead", at(1)), { ...task("discarded", 1, "dead", at(2)), discardedAt: at(9) }, task("done", 1, "succeeded", at(3)), task("dead-new", 1, "dead", at(4))],
    2,
  );
  assert.deepEqual([...m.keys()].sort(), ["dead-new", "dead-old"]);
  const m2 = mergeTasks(m, [task("live", 1, "retrying", at(5))], 2);
  assert.deepEqual([...m2.keys()].sort(), ["dead-new", "live"]);
});

test("deadLetters lists dead, undiscarded tasks, the most recently dead first, and drops retried or discarded ones", () => {
  const dead = (id: string, finishedAt: string) => ({ ...task(id, 1, "dead"), finishedAt });
  let m = mergeTasks(new Map(), [dead("a", "2026-01-01T00:00:01.000Z"), dead("b", "2026-01-01T00:00:03.000Z"), dead("c", "2026-01-01T00:00:02.000Z"), task("d", 1, "failed")]);
  assert.deepEqual(deadLetters(m.values()).map((t) => t.id), ["b", "c", "a"]);
  m = mergeTasks(m, [{ ...task("a", 2, "queued"), retriedAt: "2026-01-01T00:00:05.000Z" }, { ...dead("b", "2026-01-01T00:00:03.000Z"), version: 2, discardedAt: "2026-01-01T00:00:06.000Z" }]);
  assert.deepEqual(deadLetters(m.values()).map((t) => t.id), ["c"]);
});

test("unconfirmedIds names live tasks and dead letters a reconnection snapshot did not include", () => {
  const m = mergeTasks(new Map(), [task("run", 1, "running"), task("gone", 1, "dead"), task("seen", 1, "dead"), task("done", 1, "succeeded"), { ...task("binned", 1, "dead"), discardedAt: "2026-01-01T00:00:01.000Z" }]);
  assert.deepEqual(unconfirmedIds(m, [task("seen", 2, "dead")]).sort(), ["gone", "run"]);
  assert.equal(unconfirmedIds(m, [], 1).length, 1);
});

test("sortTasks puts the newest first", () => {
  const sorted = sortTasks([task("a", 1, "queued", "2026-01-01T00:00:00.000Z"), task("b", 1, "queued", "2026-01-02T00:00:00.000Z")]);
  assert.deepEqual(sorted.map((t) => t.id), ["b", "a"]);
});

test("mergeBroadcasts dedupes by id, orders numerically newest first and caps", () => {
  const merged = mergeBroadcasts([bc("9"), bc("10")], [bc("10"), bc("11"), bc("2")], 3);
  assert.deepEqual(merged.map((b) => b.id), ["11", "10", "9"]);
  assert.ok(compareIds("10", "9") > 0);
  assert.equal(compareIds("7", "7"), 0);
});

test("the batcher hands over a burst in one call", async () => {
  const calls: number[][] = [];
  const batcher = createBatcher<number>((items) => calls.push(items), 20);
  for (let i = 0; i < 100; i++) batcher.push(i);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].length, 100);
});

test("isFollowed keeps every channel when following all, else only the followed ones", () => {
  assert.equal(isFollowed(bc("1", "ops"), null), true);
  assert.equal(isFollowed(bc("1", "ops"), ["ops"]), true);
  assert.equal(isFollowed(bc("1", "general"), ["ops"]), false);
  assert.equal(isFollowed(bc("1", "general"), []), false);
});

test("feedAfterFollow replaces the feed with the new channels' history plus what arrived live after it was read", () => {
  const current = [bc("12", "ops"), bc("11", "general"), bc("9", "ops"), bc("3", "ops")];
  const feed = feedAfterFollow(current, { broadcasts: [bc("5", "ops"), bc("9", "ops")], gap: false, latestId: "10" }, ["ops"]);
  // 12 arrived live after the read; 11 is in a channel no longer followed; 3 is older than the history sent.
  assert.deepEqual(feed.map((b) => b.id), ["12", "9", "5"]);
  const all = feedAfterFollow([bc("2")], { broadcasts: [bc("1", "ops")], gap: false, latestId: null }, null);
  assert.deepEqual(all.map((b) => b.id), ["2", "1"]);
});

test("offeredChannels puts general first, then every other channel once, alphabetically", () => {
  assert.deepEqual(offeredChannels([], null), ["general"]);
  assert.deepEqual(offeredChannels(["ops", "general", "alerts"], ["zeta", "ops"], ["beta"]), ["general", "alerts", "beta", "ops", "zeta"]);
});

test("toggleChannel: clearing one while following all follows the others; ticking adds; clearing removes", () => {
  const offered = ["general", "ops", "alerts"];
  assert.deepEqual(toggleChannel(null, offered, "general", false), ["ops", "alerts"]);
  assert.equal(toggleChannel(null, offered, "ops", true), null);
  assert.deepEqual(toggleChannel([], offered, "ops", true), ["ops"]);
  assert.deepEqual(toggleChannel(["ops"], offered, "ops", true), ["ops"]);
  assert.deepEqual(toggleChannel(["ops", "alerts"], offered, "ops", false), ["alerts"]);
});
