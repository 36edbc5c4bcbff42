// One Lua script call for the calls of one script made in the same turn of the event loop. A busy worker claims and
// stores dozens of tasks at once; each call through ioredis costs the worker a command, a promise and a reply to
// parse, and Redis a script invocation. The batch script runs the script's body once per call, in call order,
// each with its own KEYS and ARGV, and answers each call with its own result or its own error.
import type { Redis } from "./connect";

/** Most calls one batch script runs: Redis does nothing else while a script runs. */
export const MAX_BATCH = 100;

/**
 * The Lua of a batch script. `body` is a script over KEYS and ARGV that returns its result; the batch runs it once
 * per call with KEYS and ARGV that call's own. ARGV[1] and ARGV[2] are how many keys and arguments each call has.
 * A call whose body raises an error answers that error; the calls after it still run. `after`, if any, runs once
 * when every call has run, over the last call's KEYS and ARGV (work that is the same for every call, such as
 * trimming a shared index); an error there fails the whole script call.
 */
function batchLua(body: string, after = ""): string {
  return `
local function one(KEYS, ARGV)
${body}
end
local function finally(KEYS, ARGV)
${after}
end
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
local k, a
for i = 0, #KEYS / nk - 1 do
  k, a = {}, {}
  for j = 1, nk do k[j] = KEYS[i * nk + j] end
  for j = 1, na do a[j] = ARGV[2 + i * na + j] end
  local ok, r = pcall(one, k, a)
  if not ok then r = redis.error_reply(type(r) == 'table' and r.err or tostring(r))
  elseif r == nil then r = false end
  out[i + 1] = r
end
finally(k, a)
return out`;
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

  constructor(
    private readonly redis: Redis,
    private readonly name: string,
    body: string,
    private readonly numberOfKeys: number,
    private readonly numberOfArgs: number,
    after?: string,
  ) {
    redis.defineCommand(name, { lua: batchLua(body, after) });
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
    const keys: string[] = [];
    const args: Array<string | number> = [this.numberOfKeys, this.numberOfArgs];
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
