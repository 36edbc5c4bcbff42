// TaskRoutes' own logic with a stand-in for Redis: the type -> queue map and the live-types cache.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../server/logger";
import type { Redis } from "../../server/redis/connect";
import { redisKeys } from "../../server/redis/keys";
import { TaskRoutes } from "../../server/store/task-routes";
import type { WorkerBeat } from "../../server/store/worker-directory";
import { topologyFor } from "../../server/queue/topology";

const keys = redisKeys("t");
const topology = topologyFor({ TASK_QUEUE: "tasks", TASK_QUEUE_TYPE: "classic", TASK_DELIVERY_LIMIT: 5 });

/** The few hash commands TaskRoutes uses, on one in-memory hash. */
function fakeRedis(): Redis {
  const hash = new Map<string, string>();
  return {
    hgetall: async () => Object.fromEntries(hash),
    hget: async (_key: string, field: string) => hash.get(field) ?? null,
    hmget: async (_key: string, ...fields: string[]) => fields.map((f) => hash.get(f) ?? null),
    hset: async (_key: string, ...pairs: string[]) => {
      for (let i = 0; i < pairs.length; i += 2) hash.set(pairs[i], pairs[i + 1]);
      return pairs.length / 2;
    },
  } as unknown as Redis;
}

const beat = (id: string, queue: string, type: string): WorkerBeat => ({ id, host: "h", pid: 0, concurrency: 1, inflight: 0, processed: 0, running: [], startedAt: "", beatAt: 0, queue, types: [{ name: type }] });
const announce = (worker: string, queue: string, type: string) => ({ kind: "worker" as const, v: 1 as const, worker, queue, types: [{ name: type }], concurrency: 1, inflight: 0 });

test("a failed read of the live types is not joined for ever: the next submission reads again", async () => {
  let live: () => Promise<WorkerBeat[]> = async () => {
    throw new Error("Connection is closed.");
  };
  const routes = new TaskRoutes({ redis: fakeRedis(), keys, topology, workers: { live: () => live() }, declareQueue: async () => undefined, log: createLogger("test", "silent") });
  await routes.learn(announce("w1", "images", "resize"));
  await assert.rejects(routes.forSubmission("resize", {}), /Connection is closed/);
  live = async () => [beat("w1", "images", "resize")];
  assert.deepEqual(await routes.forSubmission("resize", { w: 1 }), { ok: true, queue: "images", payload: { w: 1 } });
});

test("a type stays with its queue while a live worker offers it there, and moves once none does", async () => {
  const workers = [beat("w1", "images", "resize")];
  const redis = fakeRedis();
  const log = createLogger("test", "silent");
  const declared: string[] = [];
  const node1 = new TaskRoutes({ redis, keys, topology, workers: { live: async () => workers }, declareQueue: async () => undefined, log });
  const node2 = new TaskRoutes({ redis, keys, topology, workers: { live: async () => workers }, declareQueue: async (q) => void declared.push(q), log });
  assert.deepEqual(await node2.learn(announce("w1", "images", "resize")), []);
  workers.push(beat("w2", "thumbs", "resize"));
  assert.deepEqual(await node2.learn(announce("w2", "thumbs", "resize")), ["resize"]);
  assert.equal(await node1.queueOf("resize"), "images");
  // w1 is gone: w2's next announcement, on the other node, takes the type; then a new worker on images is heard by
  // the node that routed the type to images first: it must see that the type has moved since.
  workers.shift();
  assert.deepEqual(await node1.learn(announce("w2", "thumbs", "resize")), []);
  assert.equal(await node2.queueOf("resize"), "thumbs");
  workers.splice(0, workers.length, beat("w1b", "images", "resize"));
  assert.deepEqual(await node2.learn(announce("w1b", "images", "resize")), []);
  assert.equal(await node1.queueOf("resize"), "images");
  assert.deepEqual(await node1.queues(), ["tasks", "images"]);
  assert.deepEqual(declared, ["images", "thumbs"]);
});

test("Taskcast's own queue names and RabbitMQ's cannot be announced", () => {
  const routes = new TaskRoutes({ redis: fakeRedis(), keys, topology, workers: { live: async () => [] }, declareQueue: async () => undefined, log: createLogger("test", "silent") });
  for (const queue of ["tasks", "tasks.events", "amq.gen-1", "images.retry.1000", "images.dead"]) assert.ok(routes.reserved(queue), queue);
  for (const queue of ["images", "retry", "images.retry.soon"]) assert.equal(routes.reserved(queue), undefined, queue);
});

test("a batch reads the live types once, and once more for a type not in them, however many tasks name it", async () => {
  let reads = 0;
  const routes = new TaskRoutes({ redis: fakeRedis(), keys, topology, workers: { live: async () => (reads++, [beat("w1", "images", "resize")]) }, declareQueue: async () => undefined, log: createLogger("test", "silent") });
  await routes.learn(announce("w1", "images", "resize"));
  const tasks = [
    { type: "resize", payload: { w: 1 } },
    ...Array.from({ length: 500 }, (_, i) => ({ type: "resise", payload: { i } })),
    { type: "echo", payload: { x: 1 } },
    { type: "sleep", payload: { ms: "soon" } },
  ];
  const routed = await routes.forSubmissions(tasks);
  assert.equal(reads, 2, "one read, then one fresh read for the unknown type");
  assert.equal(routed.length, tasks.length);
  assert.deepEqual(routed[0], { ok: true, queue: "images", payload: { w: 1 } });
  assert.ok(routed.slice(1, 501).every((r) => !r.ok && /Unknown task type "resise"/.test(r.error)));
  // Built-in types are checked as for one task, each with its own payload.
  assert.deepEqual(routed[501], await routes.forSubmission("echo", { x: 1 }));
  assert.equal(routed[502].ok, false);
  // The same answers as one by one.
  for (const i of [0, 1, 502]) assert.deepEqual(routed[i], await routes.forSubmission(tasks[i].type, tasks[i].payload));
});
