// logLine: the 2 KiB cap of a handler's log line, in bytes, and what a cut line says.
import assert from "node:assert/strict";
import { test } from "node:test";
import { logLine, MAX_LOG_LINE_BYTES } from "../../lib/task-logs";

const size = (l: ReturnType<typeof logLine>) => Buffer.byteLength(l.message) + (l.fields ? Buffer.byteLength(JSON.stringify(l.fields)) : 0);

test("a line of exactly 2 KiB is kept whole; one byte more is cut to fit and says so", () => {
  const exact = logLine(1, 1, 1, "t", "a".repeat(MAX_LOG_LINE_BYTES - 7), { k: 1 });
  assert.equal(size(exact), MAX_LOG_LINE_BYTES);
  assert.doesNotMatch(exact.message, /truncated/);
  const over = logLine(1, 1, 1, "t", "a".repeat(MAX_LOG_LINE_BYTES - 6), { k: 1 });
  assert.ok(size(over) <= MAX_LOG_LINE_BYTES);
  assert.match(over.message, /^a+ … \[truncated: line was 2049 bytes, over 2048\]$/);
  assert.deepEqual(over.fields, { k: 1 });
});

test("a cut never splits a character, emoji included", () => {
  const line = logLine(1, 1, 1, "t", "😀".repeat(1000));
  assert.ok(size(line) <= MAX_LOG_LINE_BYTES);
  const kept = line.message.slice(0, line.message.indexOf(" … [truncated"));
  assert.equal(kept, "😀".repeat(kept.length / 2));
  assert.ok(!line.message.includes("\uFFFD"));
});

test("fields: a JSON object is kept; anything else, or what JSON cannot hold, is not", () => {
  assert.deepEqual(logLine(1, 1, 1, "t", "m", { a: [1, "x"] }).fields, { a: [1, "x"] });
  assert.equal(logLine(1, 1, 1, "t", "m", [1, 2] as unknown as Record<string, unknown>).fields, undefined);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.deepEqual(logLine(1, 1, 1, "t", "m", cyclic).fields, { fields: "not serializable as JSON" });
  assert.equal(logLine(2, 3, 7, "t", 42 as unknown as string).message, "42");
  assert.deepEqual(logLine(2, 3, 7, "t", "m"), { attempt: 2, run: 3, n: 7, at: "t", message: "m" });
  assert.equal(logLine(2, 1, 7, "t", "m").run, undefined);
});
