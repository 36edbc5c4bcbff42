// Recurring schedules in Redis: their definitions, the last tick each claimed, their last run, and the ticks
// claimed but not yet queued. Every web node reads the same state; the Lua scripts are what make a tick fire once.
import { MAX_SCHEDULES, ScheduleSchema, type Schedule } from "../../lib/schedules";
import { safeJson } from "../../lib/safe-json";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

/** A schedule's last run: the tick it was for, and the task it queued or why it queued none. */
export type ScheduleRun = { tick: number; taskId: string } | { tick: number; error: string };

/** Every schedule with its state, as read in one round trip. */
export interface ScheduleState {
  schedule: Schedule;
  /** The definition's JSON as stored: a claim passes it back, so a claim made against an old definition fails. */
  raw: string;
  /** The last tick claimed (ms since the epoch): every tick up to it is handled. */
  lastTick: number;
  lastRun: ScheduleRun | null;
}

/** A claimed tick whose task is not known to be queued. */
export interface PendingTick {
  name: string;
  tick: number;
  /** When it was claimed or last taken over (ms): the compare-and-set value of a takeover. */
  since: number;
}

// KEYS: schedules, ticks, runs. ARGV: name, definition JSON, first tick, most schedules. Creates only if the name
// is free (else 0) and there are fewer than the most (else -1).
const CREATE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`;

// KEYS: schedules, ticks. ARGV: name, expected definition JSON, new JSON, new last tick ('' keeps it).
// Returns 1, 0 when the definition changed meanwhile, -1 when the schedule is gone.
const UPDATE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[4]) end
return 1
`;

// KEYS: schedules, ticks, runs, pending. ARGV: name. Removes the schedule, its state and its pending ticks.
const DELETE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local prefix = ARGV[1] .. ' '
for _, member in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix then redis.call('ZREM', KEYS[4], member) end
end
return 1
`;

// The claim of a tick. KEYS: schedules, ticks, pending. ARGV: name, definition JSON the caller read, last tick it
// read, the new last tick, '1' to record the tick as pending (a run is due) or '0' (ticks skipped), now (ms).
// Wins only if neither the definition nor the last tick changed since the caller read them: of two nodes that
// read the same state, one wins.
const CLAIM = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if ARGV[5] == '1' then redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1] .. ' ' .. ARGV[4]) end
return 1
`;

// A takeover of a pending tick (its node died or failed): KEYS: pending. ARGV: member, the score read, now.
const TAKE_OVER = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`;

// A tick settled: KEYS: pending, runs, schedules. ARGV: name, tick, run JSON. The last run is kept only if it is
// the newest (a late catch-up never hides a newer run) and the schedule still exists.
const SETTLE = `
redis.call('ZREM', KEYS[1], ARGV[1] .. ' ' .. ARGV[2])
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur and cjson.decode(cur).tick > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`;

export class ScheduleStore {
  /** The definitions `all` last read, parsed (null: not a valid schedule), by their stored JSON. Shared: never mutate them. */
  private parsed = new Map<string, Schedule | null>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Every schedule with its state, by name. */
  async all(): Promise<ScheduleState[]> {
    const [defs, ticks, runs] = await Promise.all([this.redis.hgetall(this.keys.schedules), this.redis.hgetall(this.keys.scheduleTicks), this.redis.hgetall(this.keys.scheduleRuns)]);
    const out: ScheduleState[] = [];
    const parsed = new Map<string, Schedule | null>();
    for (const [name, raw] of Object.entries(defs)) {
      // Definitions rarely change: each is parsed once, not on every check (4 a second on every node).
      const schedule = this.parsed.get(raw) ?? parseSchedule(raw);
      parsed.set(raw, schedule);
      if (schedule) out.push({ schedule, raw, lastTick: Number(ticks[name] ?? 0), lastRun: parseRun(runs[name]) });
    }
    this.parsed = parsed; // only the current definitions stay
    return out.sort((a, b) => (a.schedule.name < b.schedule.name ? -1 : a.schedule.name > b.schedule.name ? 1 : 0));
  }

  /** One schedule with its state, or undefined. */
  async get(name: string): Promise<ScheduleState | undefined> {
    const [raw, tick, run] = await Promise.all([this.redis.hget(this.keys.schedules, name), this.redis.hget(this.keys.scheduleTicks, name), this.redis.hget(this.keys.scheduleRuns, name)]);
    if (raw === null) return undefined;
    const schedule = parseSchedule(raw);
    return schedule ? { schedule, raw, lastTick: Number(tick ?? 0), lastRun: parseRun(run ?? undefined) } : undefined;
  }

  /** Creates `schedule`, whose ticks start after `firstTickAfter`: "taken" if the name is, "full" at MAX_SCHEDULES. */
  async create(schedule: Schedule, firstTickAfter: number): Promise<"ok" | "taken" | "full"> {
    const result = await this.redis.eval(CREATE, 3, this.keys.schedules, this.keys.scheduleTicks, this.keys.scheduleRuns, schedule.name, JSON.stringify(schedule), String(firstTickAfter), String(MAX_SCHEDULES));
    return result === 1 ? "ok" : result === 0 ? "taken" : "full";
  }

  /**
   * Replaces the definition read as `expectedRaw` with `next`, and moves the last tick to `lastTick` when given.
   * Resolves "changed" (someone else wrote it first: read again), "gone" or "ok".
   */
  async replace(expectedRaw: string, next: Schedule, lastTick?: number): Promise<"ok" | "changed" | "gone"> {
    const result = await this.redis.eval(UPDATE, 2, this.keys.schedules, this.keys.scheduleTicks, next.name, expectedRaw, JSON.stringify(next), lastTick === undefined ? "" : String(lastTick));
    return result === 1 ? "ok" : result === 0 ? "changed" : "gone";
  }

  /** Deletes a schedule with its state and pending ticks; false if there was none. */
  async delete(name: string): Promise<boolean> {
    return (await this.redis.eval(DELETE, 4, this.keys.schedules, this.keys.scheduleTicks, this.keys.scheduleRuns, this.keys.schedulePending, name)) === 1;
  }

  /**
   * Moves the schedule's last tick from `state.lastTick` to `tick`, recording `tick` as pending when `run` (its task
   * is to be queued); resolves false when another node moved it first or the definition changed.
   */
  async claim(state: ScheduleState, tick: number, run: boolean, now: number): Promise<boolean> {
    const { keys } = this;
    const won = await this.redis.eval(CLAIM, 3, keys.schedules, keys.scheduleTicks, keys.schedulePending, state.schedule.name, state.raw, String(state.lastTick), String(tick), run ? "1" : "0", String(now));
    return won === 1;
  }

  /** Pending ticks claimed (or taken over) before `before` (ms), oldest first, at most `limit`. */
  async pendingBefore(before: number, limit: number): Promise<PendingTick[]> {
    const flat = await this.redis.zrangebyscore(this.keys.schedulePending, "-inf", `(${before}`, "WITHSCORES", "LIMIT", 0, limit);
    const out: PendingTick[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const cut = flat[i].lastIndexOf(" ");
      out.push({ name: flat[i].slice(0, cut), tick: Number(flat[i].slice(cut + 1)), since: Number(flat[i + 1]) });
    }
    return out;
  }

  /** Takes a pending tick over (to queue it again); false when another node took it first or it was settled. */
  async takeOver(pending: PendingTick, now: number): Promise<boolean> {
    return (await this.redis.eval(TAKE_OVER, 1, this.keys.schedulePending, `${pending.name} ${pending.tick}`, String(pending.since), String(now))) === 1;
  }

  /** A pending tick is settled: its task is queued, or it never will be. Records it as the last run if newest. */
  async settle(name: string, run: ScheduleRun): Promise<void> {
    await this.redis.eval(SETTLE, 3, this.keys.schedulePending, this.keys.scheduleRuns, this.keys.schedules, name, String(run.tick), JSON.stringify(run));
  }
}

/** A stored definition, frozen (parsed ones are shared between reads), or null if it is not a valid schedule. */
function parseSchedule(raw: string): Schedule | null {
  const parsed = ScheduleSchema.safeParse(safeJson(raw));
  return parsed.success ? Object.freeze(parsed.data) : null;
}

function parseRun(raw: string | undefined): ScheduleRun | null {
  const value = raw === undefined ? undefined : (safeJson(raw) as Partial<{ tick: number; taskId: string; error: string }> | undefined);
  if (!value || typeof value.tick !== "number") return null;
  if (typeof value.taskId === "string") return { tick: value.tick, taskId: value.taskId };
  return { tick: value.tick, error: typeof value.error === "string" ? value.error : "unknown error" };
}
