// `sleep`: waits `ms` milliseconds, reporting progress several times a second.
import { z } from "zod";
import { setTimeout as delay } from "node:timers/promises";
import { defineTask } from "./define-task";

const MAX_MS = 10 * 60 * 1000;
const TICK_MS = 250;

export const sleepTask = defineTask({
  name: "sleep",
  description: "Waits `ms` milliseconds (default 3000, at most 10 minutes), reporting progress.",
  example: { ms: 3000 },
  payload: z.strictObject({
    ms: z.number().int().min(0).max(MAX_MS, `ms must be at most ${MAX_MS} (10 minutes)`).default(3000),
  }),
  retry: { timeoutMs: MAX_MS + 60_000 },
  async run({ ms }, ctx) {
    const started = Date.now();
    for (;;) {
      const elapsed = Date.now() - started;
      if (elapsed >= ms) break;
      ctx.progress(elapsed / ms);
      ctx.log(`slept ${elapsed} of ${ms} ms`, { elapsed, ms });
      await delay(Math.min(TICK_MS, ms - elapsed), undefined, { signal: ctx.signal });
    }
    ctx.progress(1);
    ctx.log(`done: slept ${ms} ms`);
    return { slept: ms };
  },
});
