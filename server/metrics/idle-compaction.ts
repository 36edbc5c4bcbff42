// Gives a worker's memory back once it goes idle. After a burst of tasks V8 keeps the heap it grew for the
// burst until its memory reducer notices the quiet, which can take half a minute or not happen at all (a slow
// trickle of tasks looks busy to it); one full collection when the work stops returns it at once.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "../logger";

/** How often the worker checks whether it did any work since the last look. */
const CHECK_EVERY_MS = 5000;

/** V8's full collection, exposed without a command-line flag: the flag is set, then read from a fresh context. */
export function fullCollection(): (() => void) | undefined {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    return typeof gc === "function" ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs one full collection when `workDone` (a count that grows with every task settled) has not moved for a
 * whole check interval after it last moved: 5–10 s after the last task, once per quiet spell. Returns `stop`.
 * `gc`: the collection to run (V8's, unless a test passes its own).
 */
export function compactWhenIdle(workDone: () => number, log: Logger, gc = fullCollection()): () => void {
  if (!gc) {
    log.debug("a full collection cannot be requested here; memory is given back on V8's own schedule");
    return () => undefined;
  }
  let seen = workDone();
  let workedSinceCompaction = false;
  const timer = setInterval(() => {
    const now = workDone();
    if (now !== seen) {
      seen = now;
      workedSinceCompaction = true;
      return;
    }
    if (!workedSinceCompaction) return;
    workedSinceCompaction = false;
    const before = process.memoryUsage.rss();
    const started = performance.now();
    gc();
    log.debug({ ms: Math.round(performance.now() - started), rssMiB: Math.round(before / 2 ** 20), afterMiB: Math.round(process.memoryUsage.rss() / 2 ** 20) }, "idle: memory given back");
  }, CHECK_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
