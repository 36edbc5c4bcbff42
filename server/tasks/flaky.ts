// `flaky`: throws for its first `failures` attempts, then succeeds; for trying out retries and dead letters.
import { z } from "zod";
import { defineTask } from "./define-task";

export const flakyTask = defineTask({
  name: "flaky",
  description: "Fails its first `failures` attempts with an error (retried after 0.4 s, 0.8 s, 1.6 s; 4 attempts), then succeeds.",
  example: { failures: 2 },
  payload: z.strictObject({ failures: z.number().int().min(0).max(100).default(2) }),
  retry: { maxAttempts: 4, backoffMs: 400, maxBackoffMs: 10_000, timeoutMs: 10_000 },
  async run({ failures }, ctx) {
    if (ctx.attempt <= failures) throw new Error(`flaky failure ${ctx.attempt} of ${failures}`);
    return { attempts: ctx.attempt };
  },
});
