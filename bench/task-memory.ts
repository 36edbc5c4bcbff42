// Measures the Redis memory of task bookkeeping per 10,000 tasks, and that retention keeps it bounded.
// Run: npm run bench:task-memory (uses the local RabbitMQ and Redis, with names of its own).
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { Redis } from "ioredis";
import { loadConfig } from "../server/config";
import { createLogger } from "../server/logger";
import { redisKeys } from "../server/redis/keys";
import { TaskStore } from "../server/store/task-store";
import { startWebNode } from "../server/web-node";
import { startWorkerNode } from "../server/worker-node";
import { removeRunData } from "../test/helpers/cleanup";

const BATCH = 10_000;
const name = `bench-${randomUUID().slice(0, 8)}`;
const config = loadConfig({ ...process.env, PORT: "0", WORKER_METRICS_PORT: "0", TASK_QUEUE: name, BROADCAST_CHANNEL: name, KEY_PREFIX: name, WORKER_CONCURRENCY: "16", TASK_HISTORY_LIMIT: String(BATCH), LOG_LEVEL: "silent" });
const log = createLogger("bench", "silent");
const redis = new Redis(config.REDIS_URL);
const store = new TaskStore(redis, redisKeys(name), config.TASK_HISTORY_LIMIT);
const web = await startWebNode(config, log);
const worker = await startWorkerNode(config, log);

/** Bytes Redis reports for every key under this run's prefix. */
async function bookkeepingBytes(): Promise<{ bytes: number; keys: number }> {
  let cursor = "0";
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${name}:*`, "COUNT", 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of batch) pipeline.memory("USAGE", key, "SAMPLES", "0");
    for (const [, size] of (await pipeline.exec()) ?? []) bytes += Number(size ?? 0);
    keys += batch.length;
  } while (cursor !== "0");
  return { bytes, keys };
}

async function runBatch(): Promise<number> {
  const started = Date.now();
  let next = 0;
  const send = async () => {
    while (next < BATCH) {
      const i = next++;
      const res = await fetch(`${web.url}/api/tasks`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ type: "echo", payload: { order: i, customer: `c-${i % 97}` } }) });
      if (res.status !== 202) throw new Error(`submission ${i}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, send));
  for (;;) {
    const counts = await store.counts();
    if (counts.queued + counts.running + counts.retrying === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return Date.now() - started;
}

try {
  const first = await runBatch();
  const after10k = await bookkeepingBytes();
  const second = await runBatch();
  const after20k = await bookkeepingBytes();
  const result = {
    measuredAt: new Date().toISOString(),
    tasksPerBatch: BATCH,
    historyLimit: config.TASK_HISTORY_LIMIT,
    after10k: { ...after10k, seconds: first / 1000 },
    after20k: { ...after20k, seconds: second / 1000 },
    bytesPerTask: Math.round(after10k.bytes / BATCH),
  };
  mkdirSync(new URL("./results", import.meta.url), { recursive: true });
  writeFileSync(new URL("./results/task-memory.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`Redis bookkeeping for ${BATCH} finished echo tasks: ${(after10k.bytes / 1024 / 1024).toFixed(2)} MiB in ${after10k.keys} keys (${result.bytesPerTask} bytes per task).`);
  console.log(`After ${2 * BATCH} tasks with TASK_HISTORY_LIMIT=${BATCH}: ${(after20k.bytes / 1024 / 1024).toFixed(2)} MiB in ${after20k.keys} keys.`);
} finally {
  await worker.close();
  await web.close();
  await redis.quit();
  await removeRunData(config);
}
