// One Lua script call for the calls of one script made in the same turn of the event loop. A busy worker claims and
// stores dozens of tasks at once; each call through ioredis costs the worker a command, a promise and a reply to
// parse, and Redis a script invocation. The batch script runs the script's body once per call, in call order,
// each with its own KEYS and ARGV, and answers each call with its own result or its own error.
import type { Redis } from "./connect";

/** Most calls one batch script runs: Redis does nothing else while a script runs. */
export const MAX_BATCH = 100;

/**
 * The Lua of a batch script. `body` is a script over KEYS and ARGV that returns its result; the batch runs it once
 * per call with KEYS and ARGV that call's own, followed by the shared ones. ARGV[1] to ARGV[4] are how many keys
 * and arguments each call has and how many are shared; the shared keys open KEYS and the shared arguments follow
 * ARGV[4], once per script call. A call whose body raises an error answers that error; the calls after it still
 * run. `after`, if any, runs once when every call has run, over the last call's KEYS and ARGV (work that is the same
 * for every call, such as trimming a shared index); an error there fails the whole script call. The calls share one
 * KEYS and one ARGV table (their own entries overwritten call by call): a body reads them, never writes them.
 */
function batchLua(body: string, after = ""): string {
  return `
local function one(KEYS, ARGV)
${body}
end
local function finally(KEYS, ARGV)
${after}
end
local nk, na, nsk, nsa = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
-- One KEYS and one ARGV table for every call: the shared entries are set once, each call's own overwrite the last's.
local k, a = {}, {}
for j = 1, nsk do k[nk + j] = KEYS[j] end
for j = 1, nsa do a[na + j] = ARGV[4 + j] end
for i = 0, (#KEYS - nsk) / nk - 1 do
  for j = 1, nk do k[j] = KEYS[nsk + i * nk + j] end
  for j = 1, na do a[j] = ARGV[4 + nsa + i * na + j] end
  local ok, r = pcall(one, k, a)
  if not ok then r = redis.error_reply(type(r) == 'table' and r.err or tostring(r))
  elseif r == nil then r = false end
  out[i + 1] = r
end
finally(k, a)
return out`;
}

/** Keys and arguments every call of a batch script has, after its own: sent once per script call. */
export interface SharedInputs {
  keys: readonly string[];
  args: ReadonlyArray<string | number>;
}

interface Pending<R> {
  keys: string[];
  args: Array<string | number>;
  resolve: (value: R) => void;
  reject: (err: unknown) => void;
}

type BatchCommand<R> = (numberOfKeys: number, ...keysThenArgs: Array<string | number>) => Promise<Array<R | Error>>;

/**
 * Calls of one script with a fixed number of keys and arguments, sent as one script call (up to MAX_BATCH of them)
 * once the current turn's work, its promise callbacks included, is done. Each call resolves with its own reply; a
 * batch that fails as a whole (Redis unreachable) fails each of its calls, which, as for a single call, cannot tell
 * whether their writes landed.
 */
export class ScriptBatch<R> {
  private pending: Array<Pending<R>> = [];
  private readonly shared: SharedInputs;

  constructor(
    private readonly redis: Redis,
    private readonly name: string,
    body: string,
    /** Keys and arguments of each call's own (at least one key); the shared ones follow them in KEYS and ARGV. */
    private readonly numberOfKeys: number,
    private readonly numberOfArgs: number,
    options: { after?: string; shared?: SharedInputs } = {},
  ) {
    if (numberOfKeys < 1) throw new Error(`${name}: each call needs a key of its own`);
    this.shared = options.shared ?? { keys: [], args: [] };
    redis.defineCommand(name, { lua: batchLua(body, options.after) });
  }

  call(keys: string[], args: Array<string | number>): Promise<R> {
    if (keys.length !== this.numberOfKeys || args.length !== this.numberOfArgs) {
      return Promise.reject(new Error(`${this.name} takes ${this.numberOfKeys} keys and ${this.numberOfArgs} arguments, not ${keys.length} and ${args.length}`));
    }
    return new Promise<R>((resolve, reject) => {
      if (this.pending.push({ keys, args, resolve, reject }) === 1) process.nextTick(() => this.flush());
    });
  }

  private flush(): void {
    const all = this.pending;
    this.pending = [];
    for (let start = 0; start < all.length; start += MAX_BATCH) this.send(all.slice(start, start + MAX_BATCH));
  }

  private send(batch: Array<Pending<R>>): void {
    const keys = [...this.shared.keys];
    const args: Array<string | number> = [this.numberOfKeys, this.numberOfArgs, this.shared.keys.length, this.shared.args.length, ...this.shared.args];
    for (const call of batch) {
      for (const key of call.keys) keys.push(key);
      for (const arg of call.args) args.push(arg);
    }
    const command = (this.redis as unknown as Record<string, BatchCommand<R>>)[this.name];
    command.call(this.redis, keys.length, ...keys, ...args).then(
      (replies) => {
        for (const [i, call] of batch.entries()) {
          const reply = replies[i];
          if (reply instanceof Error) call.reject(reply);
          else call.resolve(reply);
        }
      },
      (err: unknown) => {
        for (const call of batch) call.reject(err);
      },
    );
  }
}
