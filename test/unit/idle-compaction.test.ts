// A worker gives its memory back once per quiet spell: after work, never while working, never twice idle.
import assert from "node:assert/strict";
import { test } from "node:test";
import { compactWhenIdle, fullCollection } from "../../server/metrics/idle-compaction";
import { createLogger } from "../../server/logger";

test("one full collection 5-10 s after the last task, none while tasks settle or while idle since", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  let settled = 0;
  let collections = 0;
  const stop = compactWhenIdle(() => settled, createLogger("test", "silent"), () => collections++);
  t.mock.timers.tick(20_000);
  assert.equal(collections, 0, "a worker that has done nothing yet has nothing to give back");
  for (let s = 0; s < 6; s++) {
    settled += 100;
    t.mock.timers.tick(5000);
  }
  assert.equal(collections, 0, "never while tasks keep settling");
  t.mock.timers.tick(5000);
  assert.equal(collections, 1, "once, at the first check without new work");
  t.mock.timers.tick(60_000);
  assert.equal(collections, 1, "and not again while the worker stays idle");
  settled += 1;
  t.mock.timers.tick(10_000);
  assert.equal(collections, 2, "a single task later makes a new quiet spell");
  stop();
  settled += 1;
  t.mock.timers.tick(60_000);
  assert.equal(collections, 2, "stopped");
});

test("V8's full collection is reachable without a command-line flag, and frees garbage", () => {
  const gc = fullCollection();
  assert.ok(gc, "the collector could be had");
  gc();
  const floor = process.memoryUsage().heapUsed;
  let garbage: unknown[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ i, text: `item ${i}` }));
  assert.ok(process.memoryUsage().heapUsed > floor + 10 * 2 ** 20, "the garbage takes room first");
  garbage = undefined;
  gc();
  assert.equal(garbage, undefined);
  assert.ok(process.memoryUsage().heapUsed < floor + 2 * 2 ** 20, "and none after the collection");
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, "nothing is added to this context's globals");
});
