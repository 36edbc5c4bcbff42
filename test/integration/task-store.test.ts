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

  /** Where `id` is indexed, as "status:<s>", "finished", "dead-letter", "all". */
  const placesOf = async (id: string) => {
    const places: string[] = [];
    for (const status of TASK_STATUSES) if ((await redis.zscore(keys.tasksByStatus(status), id)) !== null) places.push(`status:${status}`);
    if ((await redis.zscore(keys.tasksFinished, id)) !== null) places.push("finished");
    if ((await redis.zscore(keys.deadLetters, id)) !== null) places.push("dead-letter");
    if ((await redis.zscore(keys.tasks, id)) !== null) places.push("all");
    return places.sort();
  };
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
});
