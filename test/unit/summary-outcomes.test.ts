// SummaryOutcomes: successes of one turn stored together before any is acked; marks forgotten only after the margin.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { SummaryOutcomes } from "../../server/lifecycle/summary-outcomes";
import { createLogger } from "../../server/logger";
import type { SummaryMarks } from "../../server/store/summary-marks";

function recordingMarks(fail = false) {
  const calls: Array<{ done: string[]; forget: string[] }> = [];
  const marks = {
    async record(done: ReadonlyArray<{ id: string; type: string }>, forget: readonly string[]) {
      calls.push({ done: done.map((d) => d.id), forget: [...forget] });
      if (fail) throw new Error("Redis is away");
    },
  } as unknown as SummaryMarks;
  return { marks, calls };
}

test("successes of the same turn are stored in one call, and each resolves only once it is stored", async () => {
  const { marks, calls } = recordingMarks();
  const outcomes = new SummaryOutcomes(marks, createLogger("test", "silent"));
  const stored: string[] = [];
  const all = ["a", "b", "c"].map((id) => outcomes.succeeded(id, "echo").then(() => stored.push(id)));
  assert.deepEqual(stored, [], "nothing resolves before the write");
  await Promise.all(all);
  assert.deepEqual(calls, [{ done: ["a", "b", "c"], forget: [] }]);
  await outcomes.succeeded("d", "echo");
  assert.deepEqual(calls[1], { done: ["d"], forget: [] });
});

test("a failed write rejects every success of its batch (the delivery is then run again, never acked unstored)", async () => {
  const { marks } = recordingMarks(true);
  const outcomes = new SummaryOutcomes(marks, createLogger("test", "silent"));
  const results = await Promise.allSettled([outcomes.succeeded("a", "echo"), outcomes.succeeded("b", "echo")]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
});

test("a mark is forgotten only once its ack is settled and the margin has passed", async () => {
  const { marks, calls } = recordingMarks();
  const outcomes = new SummaryOutcomes(marks, createLogger("test", "silent"), 150);
  await outcomes.succeeded("a", "echo");
  await outcomes.succeeded("b", "echo");
  outcomes.ackSettled("a");
  await delay(60);
  outcomes.ackSettled("b");
  // A success in between does not take marks that are not due yet.
  await outcomes.succeeded("c", "echo");
  assert.deepEqual(calls.at(-1), { done: ["c"], forget: [] });
  await delay(150);
  assert.ok(calls.some((c) => c.forget.includes("a")), "a is forgotten after its margin");
  assert.ok(!calls.some((c) => c.forget.includes("b")), "b is not due yet");
  await delay(150);
  assert.ok(calls.some((c) => c.forget.includes("b")), "b is forgotten after its margin");
  assert.ok(!calls.some((c) => c.forget.includes("c")), "c's ack was never settled: its mark stays");
});
