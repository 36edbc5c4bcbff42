// Shutdown of a process's parts, shared by the web node and the worker: every step runs in order, even when
// one fails (the failure is logged), and calling it twice returns the shutdown already under way.
import { messageOf } from "./errors";
import type { Logger } from "./logger";

export type ShutdownStep = readonly [name: string, step: () => unknown];

export function shutdownInOrder(log: Logger, steps: readonly ShutdownStep[]): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          log.warn({ step: name, err: messageOf(err) }, "shutdown step failed");
        }
      }
    })());
}

/** Closes Redis clients, dropping the connection when a clean QUIT fails. */
export const closeRedis = (...clients: Array<{ quit(): Promise<unknown>; disconnect(): void }>) => Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
