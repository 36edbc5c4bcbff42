// Creates ioredis clients that log their errors instead of crashing the process.
import { Redis } from "ioredis";
import type { Logger } from "../logger";
import { maskUrl } from "../redact";

export type { Redis };

/**
 * `subscriber`: a client that only subscribes; it keeps the offline queue so that ioredis can
 * subscribe again after a reconnection. Command clients have none: while Redis is down their
 * commands fail at once and callers answer 503, instead of waiting through reconnection attempts.
 */
export function createRedis(url: string, name: string, log: Logger, role: "commands" | "subscriber" = "commands"): Redis {
  const client = new Redis(url, {
    connectionName: name,
    enableOfflineQueue: role === "subscriber",
    // Commands issued in the same tick go out in one write: under load that saves a system call per command.
    enableAutoPipelining: role === "commands",
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 6), 5000),
  });
  let lastError = "";
  client.on("error", (err: Error) => {
    // ioredis retries by itself; log each distinct error once to keep the logs readable during an outage.
    if (err.message === lastError) return;
    lastError = err.message;
    log.warn({ redis: maskUrl(url), client: name, err: err.message }, "Redis connection error");
  });
  client.on("ready", () => {
    if (lastError) log.info({ client: name }, "Redis connection restored");
    lastError = "";
  });
  return client;
}

/** Resolves when the client is ready, or rejects with an actionable message after `timeoutMs`. */
export async function waitForRedis(client: Redis, url: string, timeoutMs = 15_000): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(new Error(`Redis is not reachable at ${maskUrl(url)} — start it with \`npm start\` or set REDIS_URL`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once("ready", onReady);
  });
}
