// What follows an attempt that failed and may be retried: another attempt after a backoff, or the dead-letter
// queue. One rule for Taskcast's own workers (task-runner.ts) and for outside ones (worker-events.ts).
import type { AttemptFailure, AttemptRef, TaskEvent } from "../../lib/task-lifecycle";
import { backoffDelay, DEFAULT_RETRY, retryPolicy, type RetryPolicy } from "../tasks/define-task";
import { taskTypes } from "../tasks/registry";

export type FailedAttemptPlan =
  | { kind: "retry"; delayMs: number; event: Extract<TaskEvent, { type: "retry-later" }> }
  | { kind: "bury"; event: Extract<TaskEvent, { type: "bury" }> };

/** The retry policy of a task type: a built-in type's own, the default for a type an outside worker runs. */
export function policyOf(type: string): RetryPolicy {
  const definition = taskTypes.get(type);
  return definition ? retryPolicy(definition) : DEFAULT_RETRY;
}

/** After failed attempt `attempt` (1-based) of `policy.maxAttempts`: retry after the backoff, or bury with the reason. */
export function planFailedAttempt(policy: RetryPolicy, ref: AttemptRef, attempt: number, outcome: AttemptFailure, error: string, at: string, nowMs = Date.now()): FailedAttemptPlan {
  if (attempt >= policy.maxAttempts) {
    return { kind: "bury", event: { type: "bury", reason: `Failed ${attempt} of ${policy.maxAttempts} attempts; last error: ${error}`, at, attempt: { ref, outcome, error } } };
  }
  const delayMs = backoffDelay(policy, attempt);
  return { kind: "retry", delayMs, event: { type: "retry-later", attempt: ref, outcome, error, nextAttemptAt: new Date(nowMs + delayMs).toISOString(), at } };
}
