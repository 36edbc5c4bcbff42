// The task store's indexes against the real Redis: after any sequence of writes each record is in exactly the
// index of its status, the finished and dead-letter indexes hold exactly what they should, and retention trims a
// record from every index.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { after, before, describe, test } from "node:test";
import { TASK_STATUSES, type TaskRecord } from "../../lib/contract";
import { isDeadLetter, isRetainedHistory, newTaskRecord, nextRecord, type TaskEvent } from "../../lib/task-lifecycle";
import { loadConfig } from "../../server/config";
import { redisKeys } from "../../server/redis/keys";
import { TaskStore } from "../../server/store/task-store";

const prefix = `test-store-${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix);
const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
const ref = (startedAt: string, run = 1) => ({ worker: "w1", startedAt, maxAttempts: 3, run });

describe("task store indexes", () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(loadConfig(process.env).REDIS_URL);
  });
  after(async () => {
    const all = await redis.keys(`${prefix}:*`);
    if (all.length > 0) await redis.del(...all);
    await redis.quit();
  });

  /** Where `id` is indexed under `k`, as "status:<s>", "finished", "dead-letter", "all". */
  const placesOfIn = async (k: typeof keys, id: string) => {
    const places: string[] = [];
    for (const status of TASK_STATUSES) if ((await redis.zscore(k.tasksByStatus(status), id)) !== null) places.push(`status:${status}`);
    if ((await redis.zscore(k.tasksFinished, id)) !== null) places.push("finished");
    if ((await redis.zscore(k.deadLetters, id)) !== null) places.push("dead-letter");
    if ((await redis.zscore(k.tasks, id)) !== null) places.push("all");
    return places.sort();
  };
  const placesOf = (id: string) => placesOfIn(keys, id);
  const expected = (r: TaskRecord) => ["all", `status:${r.status}`, ...(isRetainedHistory(r) ? ["finished"] : []), ...(isDeadLetter(r) ? ["dead-letter"] : [])].sort();

  test("each write leaves a record in exactly the indexes its status calls for", async () => {
    const store = new TaskStore(redis, keys, 1000);
    const id = `t-${randomUUID()}`;
    let record = (await store.create(newTaskRecord({ type: "submit", id, taskType: "echo", payload: {}, priority: 0, at: at(0) })))!;
    assert.deepEqual(await placesOf(id), expected(record));
    const steps: TaskEvent[] = [
      { type: "start", attempt: ref(at(1)) },
      { type: "retry-later", attempt: ref(at(1)), outcome: "error", error: "boom", nextAttemptAt: at(10), at: at(2) },
      { type: "start", attempt: ref(at(10)) },
      { type: "fail", attempt: ref(at(10)), error: "no", at: at(11) },
      { type: "reply-claim", at: at(12), staleBefore: at(0), claim: "c1" },
      { type: "retry", payload: {}, at: at(13) },
      { type: "start", attempt: ref(at(14), 2) },
      { type: "bury", reason: "gone", at: at(15), attempt: { ref: ref(at(14), 2), outcome: "error", error: "x" } },
      { type: "discard", at: at(16) },
    ];
    for (const event of steps) {
      const next = nextRecord(record, event);
      assert.ok(next, `${event.type} applies to a ${record.status} record`);
      record = (await store.update(id, () => next, record))!;
      assert.equal(record.status, next.status);
      assert.deepEqual(await placesOf(id), expected(record), `after ${event.type} (${record.status})`);
    }
    assert.equal(record.status, "dead");
  });

  test("retention trims the oldest finished records from every index, never a dead letter or an unfinished task", async () => {
    const store = new TaskStore(redis, keys, 3);
    const queued = (await store.create(newTaskRecord({ type: "submit", id: `q-${randomUUID()}`, taskType: "echo", payload: {}, priority: 0, at: at(0) })))!;
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const id = `f-${i}-${randomUUID()}`;
      ids.push(id);
      const created = (await store.create(newTaskRecord({ type: "submit", id, taskType: "echo", payload: {}, priority: 0, at: at(100 + i) })))!;
      const done = nextRecord(created, { type: "succeed", attempt: ref(at(100 + i)), result: i, at: at(200 + i) })!;
      await store.update(id, () => done, created);
    }
    for (const [i, id] of ids.entries()) {
      if (i < 3) {
        assert.equal(await store.get(id), undefined, `finished record ${i} trimmed`);
        assert.deepEqual(await placesOf(id), [], `finished record ${i} in no index`);
      } else assert.equal((await store.get(id))?.status, "succeeded");
    }
    assert.equal((await store.get(queued.id))?.status, "queued");
    assert.deepEqual(await placesOf(queued.id), ["all", "status:queued"]);
  });

  test("writes and claims made at once (one script call) each get their own answer; retention holds after them", async () => {
    // A store of its own: keys apart from the other tests', so the finished index holds only these records.
    const own = redisKeys(`${prefix}-batch`);
    const store = new TaskStore(redis, own, 5);
    const ids = Array.from({ length: 12 }, (_, i) => `b-${String(i).padStart(2, "0")}-${randomUUID()}`);
    const created = await Promise.all(ids.map((id, i) => store.create(newTaskRecord({ type: "submit", id, taskType: "echo", payload: {}, priority: 0, at: at(300 + i) }))));
    assert.ok(created.every((r) => r?.version === 1));
    // One of them again: refused (it exists), while the others in the same call are not.
    const again = await Promise.all([store.create(created[0]!), store.claim(ids[11]!, ref(at(400))), store.claim(`missing-${randomUUID()}`, ref(at(400)))]);
    assert.equal(again[0], undefined, "a second create of the same id is refused");
    assert.equal(again[1]?.version, 2, "the claim bumped the version");
    assert.deepEqual(again[1]?.claim, ref(at(400)));
    assert.equal(again[2], undefined, "no record, no claim");
    // All twelve finish at once; each with a log, which retention removes with its record.
    await Promise.all(ids.map((id) => redis.rpush(own.taskLogs(id), "line")));
    const finished = await Promise.all(
      created.map((r, i) => {
        const known = i === 11 ? again[1]! : r!;
        const done = nextRecord(known, { type: "succeed", attempt: i === 11 ? ref(at(400)) : ref(at(300 + i)), result: i, at: at(500 + i) })!;
        return store.update(r!.id, () => done, known);
      }),
    );
    assert.ok(finished.every((r) => r?.status === "succeeded"));
    // A stale copy (version 1 of the claimed task) is refused and re-read: it finds the record finished.
    const stale = await store.update(ids[11]!, (cur) => (cur.status === "succeeded" ? undefined : cur), created[11]!);
    assert.equal(stale?.status, "succeeded");
    assert.equal(await redis.zcard(own.tasksFinished), 5, "the history limit holds");
    for (const [i, id] of ids.entries()) {
      if (i < 7) {
        assert.equal(await store.get(id), undefined, `record ${i} trimmed`);
        assert.deepEqual(await placesOfIn(own, id), [], `record ${i} in no index`);
        assert.equal(await redis.exists(own.taskLogs(id)), 0, `record ${i}'s log trimmed`);
      } else assert.equal((await store.get(id))?.status, "succeeded", `record ${i} kept`);
    }
    const left = await redis.keys(`${prefix}-batch:*`);
    await redis.del(...left);
  });
});
