import assert from "node:assert/strict";
import { test } from "node:test";
import { appendOlder, compareStreamIds, formatActor, matchesFilters, mergeNewer } from "../../lib/audit-view";
import type { AuditEntry } from "../../lib/auth";

const entry = (id: string, over: Partial<AuditEntry> = {}): AuditEntry => ({
  id,
  at: "2026-01-01T00:00:00.000Z",
  action: "task.submit",
  actor: { kind: "user", name: "alice", role: "operator" },
  target: null,
  detail: null,
  ip: "127.0.0.1",
  via: "socket",
  ...over,
});
const ids = (list: { entries: AuditEntry[] }) => list.entries.map((e) => e.id);

test("stream ids order by time, then by sequence, also where the digits differ in length", () => {
  assert.ok(compareStreamIds("1700000000000-10", "1700000000000-9") > 0);
  assert.ok(compareStreamIds("999999999999-5", "1000000000000-0") < 0);
  assert.equal(compareStreamIds("1700000000000-3", "1700000000000-3"), 0);
});

test("live entries join at the top once each, newest first, even when they arrive out of order", () => {
  const shown = { entries: [entry("10-0"), entry("9-0")], nextBefore: "9-0" };
  const merged = mergeNewer(shown, [entry("11-0"), entry("10-0"), entry("12-0"), entry("12-0")]);
  assert.deepEqual(ids(merged), ["12-0", "11-0", "10-0", "9-0"]);
  assert.equal(merged.nextBefore, "9-0");
  assert.equal(mergeNewer(shown, [entry("9-0")]), shown, "nothing new: the same object, so React skips a render");
});

test("the page keeps the newest entries up to its cap, and Load older then continues after the last one kept", () => {
  const shown = { entries: [entry("3-0"), entry("2-0"), entry("1-0")], nextBefore: null };
  const merged = mergeNewer(shown, [entry("4-0")], 3);
  assert.deepEqual(ids(merged), ["4-0", "3-0", "2-0"]);
  assert.equal(merged.nextBefore, "2-0");
  const older = appendOlder(merged, { entries: [entry("2-0"), entry("1-0")], nextBefore: null });
  assert.deepEqual(ids(older), ["4-0", "3-0", "2-0", "1-0"]);
  assert.equal(older.nextBefore, null);
});

test("live entries are filtered like the page: by action and by the exact actor name", () => {
  const e = entry("1-0", { action: "broadcast.send" });
  assert.ok(matchesFilters(e, {}));
  assert.ok(matchesFilters(e, { action: "broadcast.send", actor: "alice" }));
  assert.ok(!matchesFilters(e, { action: "task.submit" }));
  assert.ok(!matchesFilters(e, { actor: "ali" }));
});

test("who did it reads as a person would say it", () => {
  assert.equal(formatActor({ kind: "user", name: "alice", role: "operator" }), "alice (operator)");
  assert.equal(formatActor({ kind: "token", name: "ci-bot", role: "viewer" }), "token ci-bot (viewer)");
  assert.equal(formatActor({ kind: "anonymous", name: "mallory", role: null }), "mallory (not signed in)");
});
