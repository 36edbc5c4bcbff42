// The process logger: JSON lines (pino), credentials redacted.
import { pino, type Logger } from "pino";

export type { Logger };

/** JSON lines; `pretty` (used by `npm run dev`) prints them readably through pino-pretty. */
export function createLogger(name: string, level: string, pretty = false): Logger {
  return pino({
    name,
    level,
    redact: ["password", "*.password"],
    ...(pretty ? { transport: { target: "pino-pretty", options: { ignore: "pid,hostname", translateTime: "HH:MM:ss.l" } } } : {}),
  });
}
