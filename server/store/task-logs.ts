// Handler log lines in Redis: one list per task (`<prefix>:task:<id>:logs`), oldest first, removed with its record.
import { safeJson } from "../../lib/safe-json";
import { MAX_LOG_LINES_PER_ATTEMPT, TaskLogLineSchema, type TaskLogLine } from "../../lib/task-logs";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

/** The logs key is the record's key plus this (task-store.ts's retention deletes both). */
export const LOGS_SUFFIX = ":logs";

// Appends one attempt's new lines, then keeps only that attempt's newest ones. The attempt's lines are the list's
// tail (one attempt of a task runs at a time, and it alone appends to it): `ARGV[2]` of them are stored already.
// Nothing is written for a task whose record is gone (trimmed or removed), so no list outlives its record.
// KEYS: logs list, task hash. ARGV: max lines per attempt, lines of this attempt stored before, lines (JSON)...
const APPEND_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local lines = {}
for i = 3, #ARGV do lines[#lines + 1] = ARGV[i] end
local len = redis.call('RPUSH', KEYS[1], unpack(lines))
local ours = tonumber(ARGV[2]) + #lines
local excess = ours - tonumber(ARGV[1])
if excess > 0 then
  local start = len - ours
  local keep = redis.call('LRANGE', KEYS[1], start + excess, -1)
  if start == 0 then redis.call('DEL', KEYS[1]) else redis.call('LTRIM', KEYS[1], 0, start - 1) end
  redis.call('RPUSH', KEYS[1], unpack(keep))
end
return len
`;

export class TaskLogStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    redis.defineCommand("taskcastAppendLogs", { numberOfKeys: 2, lua: APPEND_SCRIPT });
  }

  /** Appends an attempt's new lines (`storedBefore`: how many of its lines this worker stored already); false if the task has no record. */
  async append(taskId: string, lines: TaskLogLine[], storedBefore: number): Promise<boolean> {
    if (lines.length === 0) return true;
    // More new lines than are kept: only the newest go to Redis.
    const sent = lines.length > MAX_LOG_LINES_PER_ATTEMPT ? lines.slice(-MAX_LOG_LINES_PER_ATTEMPT) : lines;
    const reply = await (this.redis as unknown as AppendLogsCommand).taskcastAppendLogs(
      this.keys.taskLogs(taskId),
      this.keys.task(taskId),
      MAX_LOG_LINES_PER_ATTEMPT,
      // Redis holds at most the newest MAX_LOG_LINES_PER_ATTEMPT of those.
      Math.min(MAX_LOG_LINES_PER_ATTEMPT, storedBefore),
      ...sent.map((line) => JSON.stringify(line)),
    );
    return Number(reply) >= 0;
  }

  /** Every kept line, oldest first (lines that do not parse are left out). */
  async read(taskId: string): Promise<TaskLogLine[]> {
    const raw = await this.redis.lrange(this.keys.taskLogs(taskId), 0, -1);
    return raw.flatMap((text) => {
      const parsed = TaskLogLineSchema.safeParse(safeJson(text));
      return parsed.success ? [parsed.data] : [];
    });
  }
}

interface AppendLogsCommand {
  taskcastAppendLogs(logsKey: string, taskKey: string, ...args: Array<string | number>): Promise<number>;
}
