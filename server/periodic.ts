// A job a process runs once per interval: never two runs at once (a run still going skips the tick), and a
// failure logged once until a run succeeds again, so an outage does not fill the log.
import { messageOf } from "./errors";
import type { Logger } from "./logger";

export interface PeriodicOptions {
  intervalMs: number;
  /** Logged, with the error, at the first failure after a success. */
  failure: { log: Logger; message: string };
  /** Run at once too, not only after the first interval. */
  immediately?: boolean;
}

/** Runs `work` every `intervalMs`, as above. Returns the stop. */
export function runPeriodically(work: () => Promise<unknown>, options: PeriodicOptions): () => void {
  let busy = false;
  let failing = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      await work();
      failing = false;
    } catch (err) {
      if (!failing) options.failure.log.warn({ err: messageOf(err) }, options.failure.message);
      failing = true;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), options.intervalMs);
  if (options.immediately) void tick();
  return () => clearInterval(timer);
}
