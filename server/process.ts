// Signal handling shared by the entry points: the first SIGINT/SIGTERM shuts down cleanly, a second forces exit.
import type { Logger } from "./logger";

// A second signal within this window is the same stop arriving twice (Ctrl-C reaches the whole process
// group and `npm start` also forwards SIGTERM), not a request to force the exit.
const DUPLICATE_WINDOW_MS = 1500;

export function onShutdownSignal(log: Logger, shutdown: () => Promise<void>): void {
  let signalledAt = 0;
  const handler = (signal: NodeJS.Signals) => {
    if (signalledAt) {
      if (Date.now() - signalledAt < DUPLICATE_WINDOW_MS) return;
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    signalledAt = Date.now();
    log.info({ signal }, "shutting down");
    shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}
