// The process logger: JSON lines (pino), credentials redacted.
import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger };

/** JSON lines; `pretty` (used by `npm run dev`) prints them readably through pino-pretty. */
export function createLogger(name: string, level: string, pretty = false): Logger {
  const options: LoggerOptions = {
    name,
    level,
    // Secrets never reach a log line, whatever object carries them.
    redact: { paths: ["password", "*.password", "token", "*.token", "authorization", "*.authorization", "*.headers.authorization", "cookie", "*.cookie", "*.headers.cookie", "SESSION_SECRET", "*.SESSION_SECRET"], censor: "[redacted]" },
    ...(pretty ? { transport: { target: "pino-pretty", options: { ignore: "pid,hostname", translateTime: "HH:MM:ss.l" } } } : {}),
  };
  if (pretty) return pino(options);
  // Lines are buffered and written together, 4 KiB at a time or every LOG_FLUSH_MS, and at exit. One write per
  // line would cost a busy worker a system call and a thread wake-up per line, two per task.
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => destination.flush(), LOG_FLUSH_MS).unref();
  return pino(options, destination);
}

/** The longest a log line waits in the buffer. */
export const LOG_FLUSH_MS = 200;
