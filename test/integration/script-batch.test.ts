// Batched script calls against the real Redis: the calls made in one turn go as one script call (seen with MONITOR),
// each answered with its own result or its own error, in call order, split past MAX_BATCH.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../server/config";
import { MAX_BATCH, ScriptBatch } from "../../server/redis/script-batch";

const prefix = `test-batch-${randomUUID().slice(0, 8)}`;

describe("batched script calls", () => {
  let redis: Redis;
  let monitored: Redis;
  let monitor: Redis;
  /** Script calls (EVAL or EVALSHA) that named a key of this test, as MONITOR saw them. */
  const scriptCalls: string[][] = [];
  let marks = 0;
  const marksSeen = new Set<string>();
  before(async () => {
    const url = loadConfig(process.env).REDIS_URL;
    redis = new Redis(url);
    // MONITOR runs on a connection of its own that `monitor()` opens beside the client's.
    monitored = new Redis(url);
    monitor = await monitored.monitor();
    monitor.on("monitor", (_time: string, args: string[]) => {
      if (/^eval/i.test(args[0] ?? "") && args.some((a) => a.startsWith(prefix))) scriptCalls.push(args);
      if (args[0]?.toLowerCase() === "get" && args[1]?.startsWith(`${prefix}:mark:`)) marksSeen.add(args[1]);
    });
  });
  after(async () => {
    monitor.disconnect();
    monitored.disconnect();
    const all = await redis.keys(`${prefix}:*`);
    if (all.length > 0) await redis.del(...all);
    await redis.quit();
  });

  /** The script calls MONITOR reported up to now: it reports commands in the order they ran, so once it has
   * reported a marker command sent after them, it has reported them all. */
  const seen = async () => {
    const mark = `${prefix}:mark:${++marks}`;
    await redis.get(mark);
    for (let i = 0; i < 250 && !marksSeen.has(mark); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(marksSeen.has(mark), "MONITOR reported the marker");
    return scriptCalls.length;
  };

  test("calls made in one turn run as one script call, each with its own keys, arguments and result", async () => {
    // INCRBY of the call's key by its argument; a key of "fail" raises an error for that call alone.
    const body = `if ARGV[1] == 'fail' then error('refused ' .. KEYS[1]) end return redis.call('INCRBY', KEYS[1], ARGV[1])`;
    const batch = new ScriptBatch<number>(redis, "testBatchIncr", body, 1, 1);
    scriptCalls.length = 0;
    const calls = [batch.call([`${prefix}:a`], [2]), batch.call([`${prefix}:b`], [5]), batch.call([`${prefix}:a`], ["fail"]), batch.call([`${prefix}:a`], [3])];
    const results = await Promise.allSettled(calls);
    assert.deepEqual(results[0], { status: "fulfilled", value: 2 });
    assert.deepEqual(results[1], { status: "fulfilled", value: 5 });
    assert.equal(results[2].status, "rejected");
    assert.match(String((results[2] as PromiseRejectedResult).reason), /refused test-batch-.*:a/);
    // Call order is kept: the last call saw the first one's write.
    assert.deepEqual(results[3], { status: "fulfilled", value: 5 });
    assert.equal(await seen(), 1, "one script call for the four");
    // A call made after the batch left goes in a script call of its own.
    assert.equal(await batch.call([`${prefix}:b`], [1]), 6);
    assert.equal(await seen(), 2);
  });

  test(`more than ${MAX_BATCH} calls at once are split, answered in order; the after step runs once per script call`, async () => {
    const body = `return redis.call('RPUSH', KEYS[1], ARGV[1])`;
    const batch = new ScriptBatch<number>(redis, "testBatchPush", body, 1, 1, { after: `redis.call('INCR', KEYS[1] .. ':after')` });
    scriptCalls.length = 0;
    const key = `${prefix}:list`;
    const n = MAX_BATCH * 2 + 5;
    const lengths = await Promise.all(Array.from({ length: n }, (_, i) => batch.call([key], [i])));
    assert.deepEqual(lengths, Array.from({ length: n }, (_, i) => i + 1));
    assert.deepEqual((await redis.lrange(key, 0, -1)).map(Number), Array.from({ length: n }, (_, i) => i));
    assert.equal(await redis.get(`${key}:after`), "3");
    assert.equal(await seen(), 3);
  });

  test("shared keys and arguments are sent once per script call and follow each call's own in KEYS and ARGV", async () => {
    // Each call adds its member to its own set and to the shared set, tagged with both shared arguments.
    const body = `redis.call('SADD', KEYS[1], ARGV[1] .. ARGV[2]) redis.call('SADD', KEYS[2], ARGV[1] .. ARGV[3]) return #KEYS * 10 + #ARGV`;
    const shared = { keys: [`${prefix}:shared`], args: ["@first", "@second"] };
    const batch = new ScriptBatch<number>(redis, "testBatchShared", body, 1, 1, { shared, after: `redis.call('SET', KEYS[2] .. ':after', ARGV[2] .. ARGV[3])` });
    scriptCalls.length = 0;
    const replies = await Promise.all(["a", "b", "c"].map((m) => batch.call([`${prefix}:own:${m}`], [m])));
    // Every call saw two keys (its own, then the shared one) and three arguments (its own, then the two shared).
    assert.deepEqual(replies, [23, 23, 23]);
    assert.deepEqual(await redis.smembers(`${prefix}:own:b`), ["b@first"]);
    assert.deepEqual((await redis.smembers(`${prefix}:shared`)).sort(), ["a@second", "b@second", "c@second"]);
    assert.equal(await redis.get(`${prefix}:shared:after`), "@first@second");
    assert.equal(await seen(), 1);
    // The shared arguments went once: the script call carried the counts, the shared key and arguments, and the
    // three calls' own key and argument each.
    const call = scriptCalls[0]!;
    assert.equal(call.filter((a) => a === "@first").length, 1);
    assert.equal(call.filter((a) => a === `${prefix}:shared`).length, 1);
  });

  test("a call with the wrong number of keys or arguments is refused before it is sent", async () => {
    const batch = new ScriptBatch<number>(redis, "testBatchShape", "return 1", 1, 2);
    await assert.rejects(batch.call([`${prefix}:x`], [1]), /takes 1 keys and 2 arguments, not 1 and 1/);
  });
});
