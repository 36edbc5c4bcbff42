// Signal handling shared by the entry points: the first SIGINT/SIGTERM shuts down cleanly, a second forces exit.
import type { Logger } from "./logger";

export function onShutdownSignal(log: Logger, shutdown: () => Promise<void>): void {
  let signalled = false;
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    signalled = true;
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
