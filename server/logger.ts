// The process logger: JSON lines (pino), credentials redacted.
import { pino, type Logger, type LoggerOptions } from "pino";
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
