// Creates ioredis clients that log their errors instead of crashing the process.
import { Redis } from "ioredis";
import { withDeadline } from "../deadline";
import { AppError, unavailable } from "../errors";
import type { Logger } from "../logger";
import { maskUrl } from "../redact";

export type { Redis };

/**
 * A command without an answer this long fails (the caller answers 503). Without it a Redis that stops
 * answering without closing the connection (a dropped network path) holds every request until TCP gives up.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 1000;

/**
 * The longest a request waits for the Redis work it needs (which may be several commands: a script's first
 * use on a connection checks that Redis has it) before it answers 503.
 */
export const REDIS_REQUEST_DEADLINE_MS = 1500;

/** `work`, or a rejection once `ms` have passed without its answer. The work itself goes on; callers undo what they can. */
export const withinDeadline = <T>(work: Promise<T>, ms = REDIS_REQUEST_DEADLINE_MS): Promise<T> => withDeadline(work, ms, () => new Error(`Redis did not answer within ${ms} ms`));

/**
 * `subscriber`: a client that only subscribes; it keeps the offline queue so that ioredis can
 * subscribe again after a reconnection. Command clients have none: while Redis is down their
 * commands fail at once and callers answer 503, instead of waiting through reconnection attempts;
 * while it does not answer, they fail after REDIS_COMMAND_TIMEOUT_MS.
 */
export function createRedis(url: string, name: string, log: Logger, role: "commands" | "subscriber" = "commands"): Redis {
  const client = new Redis(url, {
    connectionName: name,
    enableOfflineQueue: role === "subscriber",
    // Commands issued in the same tick go out in one write: under load that saves a system call per command.
    enableAutoPipelining: role === "commands",
    maxRetriesPerRequest: 2,
    // A command whose connection dropped fails (its caller has answered 503 and undone what it could) rather
    // than being sent again, behind the caller's back, once Redis is back.
    ...(role === "commands" ? { commandTimeout: REDIS_COMMAND_TIMEOUT_MS, autoResendUnfulfilledCommands: false } : {}),
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

/**
 * Runs a request's Redis work within REDIS_REQUEST_DEADLINE_MS; a failure answers 503 and says what it means
 * for the caller (`consequence`, e.g. "nothing was changed"). An AppError (a clear answer already) passes.
 */
export async function redisCall<T>(fn: () => Promise<T>, consequence = "try again shortly"): Promise<T> {
  try {
    return await withinDeadline(fn());
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw unavailable(`Redis is not reachable; ${consequence}.`, err);
  }
}

/**
 * Redis's clock, in milliseconds: the one clock every process agrees on. Liveness (a worker's or web node's
 * last beat against "now") is measured with it, since machines' clocks may disagree by seconds.
 */
export async function redisTime(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
