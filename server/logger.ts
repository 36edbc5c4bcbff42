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
  // Asynchronous writes: lines that pile up while one write is under way go out together (pino flushes at exit).
  return pretty ? pino(options) : pino(options, pino.destination({ dest: 1, sync: false }));
}
