import assert from "node:assert/strict";
import { test } from "node:test";
import { planFailedAttempt, policyOf } from "../../server/lifecycle/attempt-failure";
import { DEFAULT_RETRY } from "../../server/tasks/define-task";

const ref = { worker: "w", startedAt: "2026-12-01T10:00:00.000Z", maxAttempts: 3, run: 1 };
const at = "2026-12-01T10:00:01.000Z";

test("a failed attempt with attempts left is retried after the doubling backoff", () => {
  const nowMs = Date.parse(at);
  const first = planFailedAttempt(DEFAULT_RETRY, ref, 1, "error", "boom", at, nowMs);
  assert.ok(first.kind === "retry");
  assert.equal(first.delayMs, 1000);
  assert.deepEqual(first.event, { type: "retry-later", attempt: ref, outcome: "error", error: "boom", nextAttemptAt: "2026-12-01T10:00:02.000Z", at });
  const second = planFailedAttempt(DEFAULT_RETRY, ref, 2, "timeout", "slow", at, nowMs);
  assert.ok(second.kind === "retry" && second.delayMs === 2000 && second.event.outcome === "timeout");
});

test("the last failed attempt buries the task with a reason naming the attempts and the error", () => {
  const plan = planFailedAttempt(DEFAULT_RETRY, ref, 3, "error", "disk full", at);
  assert.ok(plan.kind === "bury");
  assert.deepEqual(plan.event, { type: "bury", reason: "Failed 3 of 3 attempts; last error: disk full", at, attempt: { ref, outcome: "error", error: "disk full" } });
});

test("a built-in type has its own policy; a type only outside workers run has the default", () => {
  assert.deepEqual(policyOf("flaky"), { maxAttempts: 4, backoffMs: 400, maxBackoffMs: 10_000, timeoutMs: 10_000 });
  assert.deepEqual(policyOf("resize-by-php"), DEFAULT_RETRY);
});
