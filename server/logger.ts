// The process logger: JSON lines (pino), credentials redacted.
import { pino, type Logger, type LoggerOptions } from "pino";
import { type AppError, messageOf } from "./errors";
import { LOG_REDACT_PATHS } from "./redact";

export type { Logger };

/** JSON lines; `pretty` (used by `npm run dev`) prints them readably through pino-pretty. */
export function createLogger(name: string, level: string, pretty = false): Logger {
  const options: LoggerOptions = {
    name,
    level,
    // Secrets never reach a log line, whatever object carries them.
    redact: { paths: [...LOG_REDACT_PATHS], censor: "[redacted]" },
    ...(pretty ? { transport: { target: "pino-pretty", options: { ignore: "pid,hostname", translateTime: "HH:MM:ss.l" } } } : {}),
  };
  return pretty ? pino(options) : pino(options, stdout());
}

let buffered: ReturnType<typeof pino.destination> | undefined;

/**
 * The process's one buffered stdout: lines are written together, 4 KiB at a time or every LOG_FLUSH_MS, and at exit.
 * One write per line would cost a busy worker a system call and a thread wake-up per line. Every logger of the
 * process shares it, so lines keep their order.
 */
function stdout(): ReturnType<typeof pino.destination> {
  if (!buffered) {
    const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    setInterval(() => destination.flush(), LOG_FLUSH_MS).unref();
    buffered = destination;
  }
  return buffered;
}

/** The longest a log line waits in the buffer. */
export const LOG_FLUSH_MS = 200;

/** The same server-side failure is logged once in this long, so an outage under load does not flood the log. */
const CLIENT_ERROR_LOG_EVERY_MS = 10_000;
const lastLogged = new Map<string, number>();

/**
 * Logs what a client was not told about an error it got: a server-side failure (5xx) and its cause (a broker's
 * address, the driver's text). Answers to the client carry only the message and the code.
 */
export function logClientError(log: Logger, err: AppError, context: Record<string, unknown>): void {
  if (err.status < 500) return;
  const cause = err.cause === undefined ? undefined : messageOf(err.cause);
  const key = `${err.code}\u0000${err.message}\u0000${cause ?? ""}`;
  const now = Date.now();
  if (now - (lastLogged.get(key) ?? -Infinity) < CLIENT_ERROR_LOG_EVERY_MS) return;
  if (lastLogged.size > 1000) lastLogged.clear();
  lastLogged.set(key, now);
  log.warn({ ...context, code: err.code, status: err.status, ...(cause === undefined ? {} : { cause }) }, err.message);
}
