// Handler log lines: their shape (stored in Redis, served by GET /api/tasks/:id/logs, pushed as `task:logs`) and caps.
import { z } from "./zod";

/** Lines kept per attempt: the newest ones. */
export const MAX_LOG_LINES_PER_ATTEMPT = 200;
/** Bytes of one line's message and fields (as JSON) together; a longer line is cut and says so. */
export const MAX_LOG_LINE_BYTES = 2048;
/** Fields whose JSON is longer than this are dropped from a line over MAX_LOG_LINE_BYTES (the message keeps the rest). */
const MAX_KEPT_FIELDS_BYTES = 1024;

export const TaskLogLineSchema = z.object({
  /** The attempt (1-based) of the run that wrote it. */
  attempt: z.number().int().min(1),
  /** The run (1, then one more per operator retry), when it is not the first. */
  run: z.number().int().min(2).optional(),
  /** The line's number within its attempt (1-based): lines before the oldest kept one were dropped. */
  n: z.number().int().min(1),
  at: z.string(),
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type TaskLogLine = z.infer<typeof TaskLogLineSchema>;

/** Body of GET /api/tasks/:id/logs: oldest first. */
export interface TaskLogs {
  logs: TaskLogLine[];
}

/** `task:logs`: new lines of one task, oldest first. */
export const TaskLogBatchSchema = z.object({ taskId: z.string(), lines: z.array(TaskLogLineSchema) });
export type TaskLogBatch = z.infer<typeof TaskLogBatchSchema>;

const utf8 = new TextEncoder();
const bytes = (s: string) => utf8.encode(s).length;

/** The first `max` bytes of `s` (UTF-8), not splitting a character. */
function cutTo(s: string, max: number): string {
  // encodeInto writes whole characters only: `read` is where the last one that fits ends.
  const { read } = utf8.encodeInto(s, new Uint8Array(Math.max(0, max)));
  return s.slice(0, read);
}

/**
 * A handler's `log(message, fields)` as a stored line. Message plus fields (as JSON) is at most MAX_LOG_LINE_BYTES:
 * a longer line loses fields over 1 KiB, then the end of its message, and its message says so.
 */
export function logLine(attempt: number, run: number, n: number, at: string, message: unknown, fields?: unknown): TaskLogLine {
  let text = typeof message === "string" ? message : String(message);
  let json: string | undefined;
  if (fields !== undefined && fields !== null && typeof fields === "object" && !Array.isArray(fields)) {
    try {
      json = JSON.stringify(fields);
    } catch {
      json = JSON.stringify({ fields: "not serializable as JSON" });
    }
  }
  const size = bytes(text) + (json ? bytes(json) : 0);
  if (size > MAX_LOG_LINE_BYTES) {
    const notes: string[] = [`line was ${size} bytes, over ${MAX_LOG_LINE_BYTES}`];
    if (json && bytes(json) > MAX_KEPT_FIELDS_BYTES) {
      notes.push(`fields (${bytes(json)} bytes) dropped`);
      json = undefined;
    }
    const note = ` … [truncated: ${notes.join("; ")}]`;
    const budget = MAX_LOG_LINE_BYTES - (json ? bytes(json) : 0) - bytes(note);
    text = bytes(text) + (json ? bytes(json) : 0) > MAX_LOG_LINE_BYTES ? cutTo(text, budget) + note : text + note;
  }
  const line: TaskLogLine = { attempt, n, at, message: text };
  if (run > 1) line.run = run;
  if (json) line.fields = JSON.parse(json) as Record<string, unknown>;
  return line;
}
