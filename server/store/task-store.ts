// Task records in Redis: a hash per task (JSON and a version), sorted-set indexes, and bounded retention.
import { isFinished, TASK_STATUSES, TaskClaimSchema, TaskRecordSchema, type TaskClaim, type TaskRecord, type TaskStatus } from "../../lib/contract";
import { claimWritten, isDeadLetter, isRetainedHistory } from "../../lib/task-lifecycle";
import { safeJson } from "../../lib/safe-json";
import { matchesSearch, parseCursor, type TaskSearchFilters } from "../../lib/task-search";
import type { ScanMeter } from "../access/scan-cost";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import { MAX_BATCH, ScriptBatch } from "../redis/script-batch";
import { LOGS_SUFFIX } from "./task-logs";
import { isoMs } from "../../lib/iso-time";

/**
 * Most records the retention trims in one script call, so a call never blocks Redis for long. Twice the most writes
 * one call makes (MAX_BATCH), so retention catches up with a backlog (a lowered limit) even under load.
 */
const TRIM_BATCH = 2 * MAX_BATCH;
/** Index entries a search reads per round trip. */
const SEARCH_BATCH = 100;
/** Most records one search request looks at before it answers with a cursor to continue from. */
export const SEARCH_SCAN_LIMIT = 5000;

// Compare-and-set of one record plus the index entries that change with it. The caller knows the record it replaces
// (the version compared), so only the indexes that change are touched: the old status's and the new one's.
// KEYS: task hash, then the keys every write shares: all-tasks index, finished index, dead-letter index.
// ARGV: expected version ("0": must not exist), record JSON, createdAt score, status, id, finished index: score to
//       add | "-" to remove | "" unchanged, dead-letter index: "+" add | "-" remove | "" unchanged, the replaced
//       record's status ("" when new), "1" to drop a worker's claim (its attempt is written, or the record no longer
//       waits; a new record has none to drop) | ""; then the arguments every write shares: status-index prefix, task-key prefix, history limit,
//       the statuses a finished record can have (comma-separated). A batch sends the shared ones once (ScriptBatch).
const SAVE_BODY = `
local cur = redis.call('HGET', KEYS[1], 'v')
if (cur or '0') ~= ARGV[1] then return 0 end
local v = (tonumber(cur) or 0) + 1
local id = ARGV[5]
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'v', v)
if ARGV[9] == '1' and cur then redis.call('HDEL', KEYS[1], 'a', 'ar') end
if not cur then redis.call('ZADD', KEYS[2], ARGV[3], id) end
if ARGV[8] ~= ARGV[4] then
  if ARGV[8] ~= '' then redis.call('ZREM', ARGV[10] .. ARGV[8], id) end
  redis.call('ZADD', ARGV[10] .. ARGV[4], ARGV[3], id)
end
if ARGV[7] == '+' then redis.call('ZADD', KEYS[4], ARGV[3], id) elseif ARGV[7] == '-' then redis.call('ZREM', KEYS[4], id) end
if ARGV[6] == '-' then redis.call('ZREM', KEYS[3], id) elseif ARGV[6] ~= '' then redis.call('ZADD', KEYS[3], ARGV[6], id) end
`;
// Retention, after the writes of one script call (same KEYS and ARGV): the oldest finished records beyond the limit
// go, at most TRIM_BATCH a call, each with its log and its entries in every index. Queued, running, retrying and
// stalled tasks are never in the finished index, so they are never trimmed; nor are dead letters until an operator
// discards them. A trimmed record may be in any finished status's index; removing absent members costs little.
const TRIM = `
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[12])
if excess > 0 then
  local old = redis.call('ZRANGE', KEYS[3], 0, math.min(excess, ${TRIM_BATCH}) - 1)
  local doomed = {}
  for i, oid in ipairs(old) do
    doomed[2 * i - 1] = ARGV[11] .. oid
    doomed[2 * i] = ARGV[11] .. oid .. '${LOGS_SUFFIX}'
  end
  redis.call('DEL', unpack(doomed))
  redis.call('ZREM', KEYS[2], unpack(old))
  redis.call('ZREM', KEYS[3], unpack(old))
  redis.call('ZREM', KEYS[4], unpack(old))
  for s in string.gmatch(ARGV[13], '[^,]+') do redis.call('ZREM', ARGV[10] .. s, unpack(old)) end
end
`;
const SAVE_SCRIPT = `${SAVE_BODY}${TRIM}return v`;
// The same write, marked as being published (store/publish-outbox.ts) if it lands: the mark goes in with the record,
// so a record queued by this write never waits for its message unmarked, and a refused write leaves no mark.
// KEYS[5]: the moving set; the mark is scored by Redis's clock (ms), as the outbox's own marks are.
const SAVE_MARKED_SCRIPT = `${SAVE_BODY}${TRIM}
local t = redis.call('TIME')
redis.call('ZADD', KEYS[5], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), id)
return v`;

/** A record waiting in a queue keeps a worker's claim: the attempt is not written yet. */
const WAITING_STATUSES: readonly TaskStatus[] = ["queued", "retrying", "stalled"];

// A worker's read of a task it is about to run: the record and its version, and whether the worker's claim was
// set on it (see TaskRecord's \`claim\`). Only a waiting task (in a waiting status's index) is claimed, and the
// claim bumps its version, so a change made from a copy read before the claim is refused and made again from a
// copy that has it. A claim for an earlier run than the one claimed (a delivery of an old message, which the
// worker then drops) never replaces it. Nothing for a task with no record.
// KEYS: task hash. ARGV: the claim (JSON), id, the claim's run, status-index prefix (shared by every claim).
const CLAIM_SCRIPT = `
local f = redis.call('HMGET', KEYS[1], 'r', 'ar', 'v')
if not f[1] then return false end
if tonumber(f[2] or '0') > tonumber(ARGV[3]) then return {f[1], f[3], 0} end
for _, s in ipairs({${WAITING_STATUSES.map((s) => `'${s}'`).join(", ")}}) do
  if redis.call('ZSCORE', ARGV[4] .. s, ARGV[2]) then
    local v = (tonumber(f[3]) or 0) + 1
    redis.call('HSET', KEYS[1], 'a', ARGV[1], 'ar', ARGV[3], 'v', v)
    return {f[1], v, 1}
  end
end
return {f[1], f[3], 0}
`;

// After the write of a new scheduled record, in the same transaction: its entry in the schedule (scored by its
// runAt, replacing a stale entry a cancelled record of the same id left) and the properties its message keeps,
// only if that write created the record (the stored JSON is the one written); nothing for a record that existed.
// KEYS: task hash, schedule. ARGV: the record JSON written, runAt (ms), id, carried properties (JSON) | "".
const SCHEDULE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'r') ~= ARGV[1] then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'm', ARGV[4]) end
return 1
`;

/** The statuses a record in the finished index can have: a trimmed record is removed from these indexes. */
const FINISHED_LIST = TASK_STATUSES.filter(isFinished).join(",");

/** A change to a record: the next record, or undefined to leave it as it is. */
export type Mutation = (current: TaskRecord) => TaskRecord | undefined;

export class TaskStore {
  private readonly claims: ScriptBatch<[string, number | string | null, number] | null>;
  private readonly saves: ScriptBatch<number>;
  /** The save script's keys and arguments after each write's own (see SAVE_BODY). */
  private readonly sharedSaveKeys: string[];
  private readonly sharedSaveArgs: Array<string | number>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** Finished records kept (dead letters not counted). */
    historyLimit: number,
  ) {
    redis.defineCommand("taskcastSaveTask", { numberOfKeys: 4, lua: SAVE_SCRIPT });
    redis.defineCommand("taskcastSaveTaskMarked", { numberOfKeys: 5, lua: SAVE_MARKED_SCRIPT });
    redis.defineCommand("taskcastScheduleTask", { numberOfKeys: 2, lua: SCHEDULE_SCRIPT });
    // The hot path's claims and writes: those made in one turn go as one script call each (a busy worker claims and
    // stores dozens of tasks a turn), with retention run once per call, after its writes.
    // What every call shares (index keys, key prefixes, the limit) goes once per script call.
    this.claims = new ScriptBatch(redis, "taskcastClaimTasks", CLAIM_SCRIPT, 1, 3, { shared: { keys: [], args: [keys.tasksByStatus("")] } });
    this.sharedSaveKeys = [keys.tasks, keys.tasksFinished, keys.deadLetters];
    this.sharedSaveArgs = [keys.tasksByStatus(""), keys.task(""), historyLimit, FINISHED_LIST];
    this.saves = new ScriptBatch(redis, "taskcastSaveTasks", `${SAVE_BODY}return v`, 1, 9, { after: TRIM, shared: { keys: this.sharedSaveKeys, args: this.sharedSaveArgs } });
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const [raw, version, claim] = await this.redis.hmget(this.keys.task(id), "r", "v", "a");
    // A claim that does not parse (written by a worker of another version?) is left out, not the record.
    const parsed = claim ? TaskClaimSchema.safeParse(safeJson(claim)) : undefined;
    return decode(raw, version, parsed?.success ? parsed.data : undefined);
  }

  /**
   * A worker's read of a task it is about to run: the record, with `claim` set on it in the same step in Redis if
   * the task waits (queued, retrying, stalled), or undefined if it has no record. Until the worker writes the
   * attempt, a cancel records it as running.
   */
  async claim(id: string, claim: TaskClaim): Promise<TaskRecord | undefined> {
    const reply = await this.claims.call([this.keys.task(id)], [JSON.stringify(claim), id, claim.run]);
    return reply ? decode(reply[0], String(reply[1]), reply[2] === 1 ? claim : undefined) : undefined;
  }

  /** Stores a new record; false if one with this id exists already. */
  async create(record: TaskRecord): Promise<TaskRecord | undefined> {
    const version = await this.write(record);
    return version ? { ...record, version } : undefined;
  }

  /**
   * Stores a new scheduled record and its entry in the schedule (scored by its runAt) in one transaction, so no
   * scheduled record lacks its entry. `carried`: the properties (JSON) its message is to keep when queued (an AMQP
   * submission's reply_to). Undefined if a record with this id exists already (its entry and properties are left as
   * they are); a stale entry of an earlier record of this id (cancelled, then trimmed) takes the new runAt.
   */
  async createScheduled(record: TaskRecord, carried?: string): Promise<TaskRecord | undefined> {
    if (record.status !== "scheduled" || record.runAt === undefined) throw new Error(`createScheduled needs a scheduled record with runAt (task ${record.id})`);
    const tx = this.redis.multi();
    const { keys, args } = this.saveArgs(record);
    (tx as unknown as SaveTaskCommand).taskcastSaveTask(...keys, ...this.sharedSaveKeys, ...args, ...this.sharedSaveArgs);
    (tx as unknown as ScheduleTaskCommand).taskcastScheduleTask(this.keys.task(record.id), this.keys.scheduled, args[1]!, Date.parse(record.runAt), record.id, carried ?? "");
    const replies = await tx.exec();
    const [err, version] = replies?.[0] ?? [new Error("the transaction was discarded")];
    if (err) throw err;
    return Number(version) ? { ...record, version: Number(version) } : undefined;
  }

  /** The message properties (JSON) a scheduled task submitted over AMQP keeps when it is queued, if any. */
  async carriedProperties(id: string): Promise<string | null> {
    return this.redis.hget(this.keys.task(id), "m");
  }

  /**
   * Applies `mutate` to the stored record atomically (optimistic: re-reads and re-applies on a
   * concurrent write). Resolves with the stored record, or undefined if there is none. `known`, a copy
   * the caller believes current (its own last write), saves the first read; if it is stale the write is
   * refused and the record is read afresh.
   */
  async update(id: string, mutate: Mutation, known?: TaskRecord, options: WriteOptions = {}): Promise<TaskRecord | undefined> {
    for (let round = 0; round < 20; round++) {
      const current = round === 0 && known?.id === id ? known : await this.get(id);
      if (!current) return undefined;
      const next = mutate(current);
      if (!next) return current;
      const version = await this.write(next, current, options);
      if (version) return { ...next, version };
    }
    throw new Error(`task ${id} is being changed by too many writers at once`);
  }

  async remove(id: string): Promise<void> {
    const tx = this.redis.multi().del(this.keys.task(id), this.keys.taskLogs(id)).zrem(this.keys.tasks, id).zrem(this.keys.tasksFinished, id).zrem(this.keys.deadLetters, id);
    for (const status of TASK_STATUSES) tx.zrem(this.keys.tasksByStatus(status), id);
    await tx.exec();
  }

  /** Newest first, skipping the newest `offset`. */
  async list(options: { status?: TaskStatus; limit: number; offset?: number }): Promise<TaskRecord[]> {
    const index = options.status ? this.keys.tasksByStatus(options.status) : this.keys.tasks;
    const offset = options.offset ?? 0;
    return this.read(await this.redis.zrevrange(index, offset, offset + options.limit - 1));
  }

  /**
   * Records passing the filters, newest first, from the status index (or the all-tasks index), starting after
   * `cursor`. Type and text have no index, so records are read in batches and filtered here. A search that
   * matches little would otherwise read the whole history (10,000+ records, some with large payloads) in one
   * request and hold Redis and the web node for seconds; it stops after `scanLimit` records instead and
   * answers with the cursor where it stopped, so the next request carries on from there.
   * `nextCursor` is null when the index has nothing beyond what was looked at. `meter` counts the records read.
   */
  async search(options: TaskSearchFilters & { cursor?: string; limit: number; scanLimit?: number; meter?: ScanMeter }): Promise<{ records: TaskRecord[]; nextCursor: string | null }> {
    const index = options.status ? this.keys.tasksByStatus(options.status) : this.keys.tasks;
    const scanLimit = options.scanLimit ?? SEARCH_SCAN_LIMIT;
    const records: TaskRecord[] = [];
    let after = options.cursor ? parseCursor(options.cursor) : undefined;
    let scanned = 0;
    while (scanned < scanLimit) {
      const { entries, more } = await this.indexAfter(index, after, Math.min(SEARCH_BATCH, scanLimit - scanned));
      const found = await this.readMap(entries.map((e) => e.id));
      for (const [i, entry] of entries.entries()) {
        scanned++;
        if (options.meter) options.meter.scanned++;
        after = entry;
        const record = found.get(entry.id);
        if (record && matchesSearch(record, options)) records.push(record);
        // Full page: continue after this record, unless it was the last one in the index.
        if (records.length === options.limit) return { records, nextCursor: more || i < entries.length - 1 ? `${entry.score}:${entry.id}` : null };
      }
      if (!more) return { records, nextCursor: null };
    }
    return { records, nextCursor: after ? `${after.score}:${after.id}` : null };
  }

  /**
   * Up to `count` index entries after `after` (newest first: score descending, equal scores by id descending,
   * as ZREVRANGEBYSCORE returns them), and whether the index may hold more beyond them.
   */
  private async indexAfter(index: string, after: { score: number; id: string } | undefined, count: number): Promise<{ entries: Array<{ id: string; score: number }>; more: boolean }> {
    // Entries with the cursor's own score come first; those at or above the cursor's id were seen already.
    for (let offset = 0; ; offset += count) {
      const reply = after
        ? await this.redis.zrevrangebyscore(index, after.score, "-inf", "WITHSCORES", "LIMIT", offset, count)
        : await this.redis.zrevrange(index, offset, offset + count - 1, "WITHSCORES");
      const all: Array<{ id: string; score: number }> = [];
      for (let i = 0; i + 1 < reply.length; i += 2) all.push({ id: reply[i], score: Number(reply[i + 1]) });
      const entries = after ? all.filter((e) => e.score !== after.score || Buffer.compare(Buffer.from(e.id), Buffer.from(after.id)) < 0) : all;
      const more = all.length === count;
      // A whole batch of already-seen ties (many records created in the same millisecond): look further.
      if (entries.length > 0 || !more) return { entries, more };
    }
  }

  /** Dead tasks an operator has not discarded, newest first. */
  async deadLetters(limit: number): Promise<TaskRecord[]> {
    return this.read(await this.redis.zrevrange(this.keys.deadLetters, 0, limit - 1));
  }

  /** Every dead letter's id (dead, not discarded), oldest first: what a bulk action over all of them works through. */
  async deadLetterIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.deadLetters, "0", "-1");
  }

  /** How many records each status index holds. */
  async counts(): Promise<Record<TaskStatus, number>> {
    const tx = this.redis.multi();
    for (const status of TASK_STATUSES) tx.zcard(this.keys.tasksByStatus(status));
    const replies = (await tx.exec()) ?? [];
    return Object.fromEntries(TASK_STATUSES.map((s, i) => [s, Number(replies[i]?.[1] ?? 0)])) as Record<TaskStatus, number>;
  }

  /** Records by id (missing ones, e.g. trimmed meanwhile, are absent). */
  private async readMap(ids: string[]): Promise<Map<string, TaskRecord>> {
    return new Map((await this.read(ids)).map((r) => [r.id, r]));
  }

  private async read(ids: string[]): Promise<TaskRecord[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.task(id), "r", "v");
    const replies = (await pipeline.exec()) ?? [];
    return replies.flatMap(([err, value]) => {
      if (err) return [];
      const [raw, version] = value as [string | null, string | null];
      const record = decode(raw, version);
      return record ? [record] : [];
    });
  }

  /** Writes `record` if the stored one is still `known` (none, or version 0: it must not exist); the new version, or 0. */
  private write(record: TaskRecord, known?: TaskRecord, options: WriteOptions = {}): Promise<number> {
    const { keys, args } = this.saveArgs(record, known);
    if (!options.publishing) return this.saves.call(keys, args).then(Number);
    return (this.redis as unknown as SaveTaskMarkedCommand).taskcastSaveTaskMarked(...keys, ...this.sharedSaveKeys, this.keys.scheduledMoving, ...args, ...this.sharedSaveArgs).then(Number);
  }

  /** A write's own keys and arguments for the save script (see SAVE_BODY); the shared ones follow them. */
  private saveArgs(record: TaskRecord, known?: TaskRecord): { keys: string[]; args: Array<string | number> } {
    // Version 0 is a record not stored yet (built from a message): there is nothing to replace.
    const replaced = known && known.version > 0 ? known : undefined;
    const finished = isRetainedHistory(record);
    const wasFinished = replaced !== undefined && isRetainedHistory(replaced);
    const deadLetter = isDeadLetter(record);
    const wasDeadLetter = replaced !== undefined && isDeadLetter(replaced);
    const finishedOp = finished
      ? wasFinished && replaced.finishedAt === record.finishedAt && record.finishedAt !== undefined
        ? ""
        : record.finishedAt === undefined ? Date.now() : isoMs(record.finishedAt)
      : wasFinished
        ? "-"
        : "";
    const keys = [this.keys.task(record.id)];
    const args = [
      replaced ? String(replaced.version) : "0",
      // The version lives in its own field. A copy with it set undefined (JSON leaves it out) is made in V8's fast
      // path; \`{ version, ...rest }\` builds the copy field by field (3 % of the worker's time).
      JSON.stringify({ ...record, version: undefined, claim: undefined }),
      isoMs(record.createdAt),
      record.status,
      record.id,
      finishedOp,
      deadLetter === wasDeadLetter ? "" : deadLetter ? "+" : "-",
      replaced?.status ?? "",
      WAITING_STATUSES.includes(record.status) && !(known?.claim && claimWritten(record, known.claim)) ? "" : "1",
    ];
    return { keys, args };
  }
}

/** How a write is made. */
export interface WriteOptions {
  /**
   * The write queues the task and this node publishes its message next: the task is marked as being published
   * (store/publish-outbox.ts) in the same script, if the write lands. The caller clears the mark once RabbitMQ has
   * answered (PublishOutbox.track, clear).
   */
  publishing?: boolean;
}

interface SaveTaskMarkedCommand {
  taskcastSaveTaskMarked(...keysThenArgs: Array<string | number>): Promise<number>;
}
interface SaveTaskCommand {
  taskcastSaveTask(...keysThenArgs: Array<string | number>): Promise<number>;
}
interface ScheduleTaskCommand {
  taskcastScheduleTask(key: string, schedule: string, json: string | number, runAtMs: number, id: string, carried: string): Promise<number>;
}

function decode(raw: string | null | undefined, version: string | null | undefined, claim?: TaskClaim): TaskRecord | undefined {
  if (!raw) return undefined;
  const data = safeJson(raw);
  if (typeof data !== "object" || data === null) return undefined;
  // Set on the parsed object rather than spread into a copy: adding a field to a spread copy is slow in V8.
  (data as { version?: number }).version = Number(version ?? 1);
  if (claim) (data as { claim?: TaskClaim }).claim = claim;
  const parsed = TaskRecordSchema.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}
