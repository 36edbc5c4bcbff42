// Task throughput: N echo tasks submitted and run to completion through Taskcast (full tracking on), against a
// bare amqplib producer and consumer with the same guarantees and prefetch, and against BullMQ.
import { connect } from "amqplib";
import { Queue, Worker } from "bullmq";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { loadConfig } from "../server/config";
import { createLogger } from "../server/logger";
import { createRedis, waitForRedis } from "../server/redis/connect";
import { redisKeys } from "../server/redis/keys";
import { TaskStore } from "../server/store/task-store";
import type { TaskRecord } from "../lib/contract";
import { removeRunData } from "../test/helpers/cleanup";
import { io } from "socket.io-client";
import { sampleRss, startProcess, type Child } from "./lib/processes";

export interface ThroughputRun {
  system: string;
  concurrency: number;
  tasks: number;
  seconds: number;
  perSecond: number;
  /** Taskcast only: the worker's resident memory before the run and its peak during it, MiB. */
  workerRssMiB?: { atRest: number; peak: number };
  /** CPU seconds each process spent on the run (broker, Redis, bench client, Taskcast's web node and worker). */
  cpu?: Record<string, number>;
  /** Taskcast only: task events a Socket.IO client connected to the web node received during the run. */
  taskEvents?: number;
}

/** A Socket.IO client on the web node counting task events, as an open dashboard receives them. */
async function watchTaskEvents(webUrl: string): Promise<{ count: () => number; close: () => void }> {
  const socket = io(webUrl, { transports: ["websocket"], reconnection: false });
  let events = 0;
  socket.on("task:update", () => events++);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (err) => reject(new Error(`the task event watcher could not connect: ${err.message}`)));
  });
  return { count: () => events, close: () => socket.close() };
}

const baseEnv = () => ({ ...process.env, NODE_ENV: "production", LOG_LEVEL: "info" });

/**
 * A bare amqplib producer (confirms, persistent) and consumer (manual acks, prefetch) on a durable queue. The
 * consumer keeps up with the producer, so the queue stays near empty and RabbitMQ hands most messages straight on.
 * With `backlog`, every message is published (and confirmed) first and only the drain is timed: what a consumer
 * slower than its producers meets, as every Taskcast run here does (see drainRows in run.ts).
 */
export async function bareAmqplib(tasks: number, prefetch: number, options: { maxPriority?: number; backlog?: boolean } = {}): Promise<ThroughputRun> {
  const url = loadConfig(process.env).RABBITMQ_URL;
  const queue = `bench-bare-${randomUUID().slice(0, 8)}`;
  const conn = await connect(url);
  try {
    const pub = await conn.createConfirmChannel();
    const sub = await conn.createChannel();
    await pub.assertQueue(queue, { durable: true, ...(options.maxPriority ? { maxPriority: options.maxPriority } : {}) });
    await sub.prefetch(prefetch);
    let acked = 0;
    let started = 0;
    const consume = () =>
      new Promise<void>((resolve) => {
        void sub.consume(queue, (msg) => {
          if (!msg) return;
          // The echo handler: parse the task and produce its result.
          const task = JSON.parse(msg.content.toString("utf8")) as { payload: unknown };
          JSON.stringify({ echo: task.payload });
          sub.ack(msg);
          if (++acked === tasks) resolve();
        });
      });
    const publish = () => publishAll(tasks, (i) => pub.publish("", queue, Buffer.from(JSON.stringify({ id: randomUUID(), type: "echo", payload: { i } })), { persistent: true, contentType: "application/json" }), () => pub.waitForConfirms());
    if (options.backlog) {
      await publish();
      started = performance.now();
      await consume();
    } else {
      const done = consume();
      started = performance.now();
      await publish();
      await done;
    }
    const seconds = (performance.now() - started) / 1000;
    await sub.deleteQueue(queue);
    return { system: bareSystem(options), concurrency: prefetch, tasks, seconds, perSecond: tasks / seconds };
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** The name of a bare amqplib run: its queue's priority levels (x-max-priority + 1) and whether it drained a backlog. */
export function bareSystem(options: { maxPriority?: number; backlog?: boolean }): string {
  if (!options.backlog) return options.maxPriority ? "bare amqplib, priority queue" : "bare amqplib";
  return `bare amqplib draining a backlog, ${options.maxPriority ? `${options.maxPriority + 1} priority levels` : "no priorities"}`;
}

/**
 * The floor for any queue that keeps a record per task: the bare amqplib consumer (priority queue, as Taskcast's)
 * plus exactly the Redis work Taskcast's worker does for a task, through Taskcast's own TaskStore: read (and claim) the
 * record before running the task, write its outcome (compare-and-set, indexes, retention) before the ack. No events,
 * logs, metrics, timers or handler machinery. Taskcast's figure against this one is its own overhead; this one
 * against bare amqplib is the price of the record itself.
 */
export function amqplibWithRecords(tasks: number, prefetch: number): Promise<ThroughputRun> {
  return amqplibWithRedis(RECORDS_FLOOR, tasks, prefetch, 9, (redis, prefix) => {
    const store = new TaskStore(redis, redisKeys(prefix), loadConfig(process.env).TASK_HISTORY_LIMIT);
    return async (task) => {
      // The worker's read: a claim on the record if it waits (see TaskStore.claim).
      const claim = { worker: "bench-floor", startedAt: new Date().toISOString(), maxAttempts: 3, run: 1 };
      const known: TaskRecord = (await store.claim(task.id, claim)) ?? { id: task.id, type: task.type, payload: task.payload, status: "queued", progress: 0, priority: 0, attempts: 0, attemptLog: [], createdAt: new Date().toISOString(), version: 0 };
      const result = { echo: task.payload };
      await store.update(task.id, (cur) => ({ ...cur, status: "succeeded", attempts: cur.attempts + 1, progress: 1, result, finishedAt: new Date().toISOString() }), known);
    };
  });
}

// One field read, then a write of the record if the version is still the one read: the least a per-task record
// can cost and still be a compare-and-set.
const MINIMAL_CAS = `local cur = redis.call('HGET', KEYS[1], 'v')
if (cur or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'v', tonumber(ARGV[1]) + 1)
return 1`;

/**
 * The cheapest design that keeps a record per task, whatever it records: the bare amqplib consumer plus one
 * round trip to Redis before the task runs (a version, as a cancel check would read) and one compare-and-set of a
 * record the size of Taskcast's before the ack. No indexes, retention or validation. What any per-task record
 * costs on this machine, with and without a priority queue.
 */
export function amqplibWithMinimalRecord(tasks: number, prefetch: number, options: { maxPriority?: number } = {}): Promise<ThroughputRun> {
  const system = options.maxPriority ? `${MINIMAL_RECORD}, priority queue` : MINIMAL_RECORD;
  return amqplibWithRedis(system, tasks, prefetch, options.maxPriority, (redis, prefix) => {
    redis.defineCommand("benchMinimalCas", { numberOfKeys: 1, lua: MINIMAL_CAS });
    const cas = (redis as unknown as { benchMinimalCas(key: string, version: string, record: string): Promise<number> }).benchMinimalCas.bind(redis);
    // About the size of a finished echo task's record in Taskcast (its JSON is 400–500 bytes).
    const padding = "x".repeat(320);
    return async (task) => {
      const key = `${prefix}:task:${task.id}`;
      const version = await redis.hget(key, "v");
      if ((await cas(key, version ?? "0", JSON.stringify({ id: task.id, status: "succeeded", result: { echo: task.payload }, padding }))) !== 1) throw new Error(`task ${task.id}: compare-and-set refused`);
    };
  });
}

/** The bare amqplib producer and consumer, with `perTask`'s Redis work done for each task before its ack. */
async function amqplibWithRedis(system: string, tasks: number, prefetch: number, maxPriority: number | undefined, setup: (redis: Redis, prefix: string) => (task: { id: string; type: string; payload: unknown }) => Promise<void>): Promise<ThroughputRun> {
  const config = loadConfig(process.env);
  const prefix = `bench-floor-${randomUUID().slice(0, 8)}`;
  const redis = createRedis(config.REDIS_URL, "bench-floor", benchLog);
  await waitForRedis(redis, config.REDIS_URL);
  const perTask = setup(redis, prefix);
  const queue = `${prefix}-queue`;
  const conn = await connect(config.RABBITMQ_URL);
  try {
    const pub = await conn.createConfirmChannel();
    const sub = await conn.createChannel();
    await pub.assertQueue(queue, { durable: true, ...(maxPriority ? { maxPriority } : {}) });
    await sub.prefetch(prefetch);
    let acked = 0;
    const done = new Promise<void>((resolve, reject) => {
      void sub.consume(queue, (msg) => {
        if (!msg) return;
        void (async () => {
          await perTask(JSON.parse(msg.content.toString("utf8")) as { id: string; type: string; payload: unknown });
          sub.ack(msg);
          if (++acked === tasks) resolve();
        })().catch(reject);
      });
    });
    const started = performance.now();
    await publishAll(tasks, (i) => pub.publish("", queue, Buffer.from(JSON.stringify({ id: randomUUID(), type: "echo", payload: { i } })), { persistent: true, contentType: "application/json" }), () => pub.waitForConfirms());
    await done;
    const seconds = (performance.now() - started) / 1000;
    await sub.deleteQueue(queue);
    return { system, concurrency: prefetch, tasks, seconds, perSecond: tasks / seconds };
  } finally {
    await conn.close().catch(() => undefined);
    await removeRunData({ ...config, KEY_PREFIX: prefix, TASK_QUEUE: queue }).catch(() => undefined);
    redis.disconnect();
  }
}

export const MINIMAL_RECORD = "bare amqplib + minimal record";
export const RECORDS_FLOOR = "bare amqplib + Taskcast's Redis record";

const benchLog = createLogger("bench", "warn");

/** Publishes with confirms in windows of 500, as a careful producer does. */
async function publishAll(count: number, publish: (i: number) => boolean, confirm: () => Promise<void>): Promise<void> {
  for (let i = 0; i < count; i++) {
    publish(i);
    if (i % 500 === 499) await confirm();
  }
  await confirm();
}

/** BullMQ with the same concurrency: jobs added in bulk, run by one Worker, completed jobs kept (bounded) as records. */
export async function bullmq(tasks: number, concurrency: number): Promise<ThroughputRun> {
  const config = loadConfig(process.env);
  const name = `bench-bullmq-${randomUUID().slice(0, 8)}`;
  const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const workerConnection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection });
  let completed = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const worker = new Worker(name, async (job) => ({ echo: job.data as unknown }), { connection: workerConnection, concurrency, autorun: false });
  worker.on("completed", () => {
    if (++completed === tasks) resolveDone();
  });
  try {
    await worker.waitUntilReady();
    const started = performance.now();
    void worker.run();
    for (let i = 0; i < tasks; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, tasks - i) }, (_, j) => ({ name: "echo", data: { i: i + j }, opts: { removeOnComplete: { count: 10_000 }, removeOnFail: { count: 10_000 }, attempts: 3 } })));
    }
    await done;
    const seconds = (performance.now() - started) / 1000;
    return { system: "BullMQ", concurrency, tasks, seconds, perSecond: tasks / seconds };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    connection.disconnect();
    workerConnection.disconnect();
  }
}

export interface TaskcastStack {
  name: string;
  /** Set when the stack runs with a non-default setting: shown in its rows' system name. */
  variant?: string;
  env: Record<string, string | undefined>;
  web: Child;
  worker: Child;
  webUrl: string;
  workerMetricsUrl: string;
  stop(): Promise<void>;
}

/** A web node (with the built dashboard) and a worker as separate processes, as in production. */
export async function startTaskcast(concurrency: number, port: number, extraEnv: Record<string, string> = {}, variant?: string): Promise<TaskcastStack> {
  const name = `bench-${randomUUID().slice(0, 8)}`;
  const env = { ...baseEnv(), TASK_QUEUE: name, BROADCAST_CHANNEL: name, KEY_PREFIX: name, API_RATE: "0", WORKER_CONCURRENCY: String(concurrency), WORKER_METRICS_PORT: "0", PORT: String(port), HOST: "127.0.0.1", ...extraEnv };
  const web = await startProcess("server/web.ts", env, (l) => l.includes("Taskcast dashboard"));
  let worker: Child;
  try {
    worker = await startProcess("server/worker.ts", env, (l) => l.includes("worker ready"));
  } catch (err) {
    await web.stop();
    throw err;
  }
  return {
    name,
    variant,
    env,
    web,
    worker,
    webUrl: `http://127.0.0.1:${port}`,
    workerMetricsUrl: (JSON.parse(worker.output.find((l) => l.includes("worker ready"))!) as { metrics: string }).metrics.replace(/\/metrics$/, ""),
    async stop() {
      await worker.stop();
      await web.stop();
      await removeRunData(loadConfig(env));
    },
  };
}

/**
 * Taskcast: `tasks` echo tasks submitted through POST /api/tasks (64 requests in flight, keep-alive) or published
 * straight to the queue over AMQP (as another service would), timed until the last of them is recorded as finished.
 */
/** How Taskcast gets the tasks: straight to the queue over AMQP, one POST /api/tasks each, or POST /api/tasks/batch. */
export type TaskcastPath = "amqp" | "http" | "batch";
const PATH_NAMES: Record<TaskcastPath, string> = { amqp: "AMQP publish", http: "HTTP API", batch: "HTTP batch" };
/** Tasks per POST /api/tasks/batch (the most it takes), and batches in flight. */
const BATCH_SIZE = 1000;
const BATCHES_IN_FLIGHT = 4;

export async function taskcast(stack: TaskcastStack, tasks: number, via: TaskcastPath, onStarted?: () => void): Promise<ThroughputRun> {
  const config = loadConfig(stack.env);
  const keys = redisKeys(config.KEY_PREFIX);
  const redis = new Redis(config.REDIS_URL);
  const summary = config.TASK_TRACK_SUMMARY.includes("echo");
  // Records beyond TASK_HISTORY_LIMIT are trimmed, so completion is read from the worker's counters.
  const before = await succeededSoFar(stack);
  const beforeInRedis = await succeededInCounters(stack, redis);
  const rss = { atRest: sampleRss(stack.worker.pid).stop(), sampler: sampleRss(stack.worker.pid) };
  const watcher = await watchTaskEvents(stack.webUrl);
  try {
    onStarted?.();
    const startedAt = Date.now();
    if (via === "http") {
      let next = 0;
      const submitOne = async (): Promise<void> => {
        while (next < tasks) {
          const i = next++;
          const res = await fetch(`${stack.webUrl}/api/tasks`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ type: "echo", payload: { i } }) });
          if (res.status !== 202) throw new Error(`POST /api/tasks answered ${res.status}: ${await res.text()}`);
          await res.arrayBuffer().catch(() => undefined);
        }
      };
      await Promise.all(Array.from({ length: 64 }, submitOne));
    } else if (via === "batch") {
      let next = 0;
      const submitBatches = async (): Promise<void> => {
        while (next < tasks) {
          const from = next;
          next = Math.min(tasks, next + BATCH_SIZE);
          const batch = Array.from({ length: next - from }, (_, k) => ({ type: "echo", payload: { i: from + k } }));
          const res = await fetch(`${stack.webUrl}/api/tasks/batch`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ tasks: batch }) });
          if (res.status !== 202) throw new Error(`POST /api/tasks/batch answered ${res.status}: ${await res.text()}`);
          await res.arrayBuffer().catch(() => undefined);
        }
      };
      await Promise.all(Array.from({ length: BATCHES_IN_FLIGHT }, submitBatches));
    } else {
      const conn = await connect(config.RABBITMQ_URL);
      const ch = await conn.createConfirmChannel();
      await publishAll(tasks, (i) => ch.publish("", config.TASK_QUEUE, Buffer.from(JSON.stringify({ id: randomUUID(), type: "echo", payload: { i } })), { persistent: true, contentType: "application/json" }), () => ch.waitForConfirms());
      await conn.close();
    }
    // Progress is watched in the activity counters the worker writes to Redis every 250 ms: polling the worker's
    // /metrics instead would cost the measured worker CPU (a scrape is a few milliseconds of it).
    const deadline = Date.now() + 15 * 60_000;
    while ((await succeededInCounters(stack, redis)) - beforeInRedis < tasks) {
      if (Date.now() > deadline) throw new Error("Taskcast did not finish the tasks within 15 minutes");
      await new Promise((r) => setTimeout(r, 100));
    }
    // The run ends when the last task was recorded as finished: the newest score in the finished index (ms), or
    // for a summary-tracked type, in the index of its successes (see server/store/summary-marks.ts).
    const [, newest] = await redis.zrevrange(summary ? keys.summaryDone : keys.tasksFinished, 0, 0, "WITHSCORES");
    const seconds = (Number(newest) - startedAt) / 1000;
    // The worker's own counter must agree: every task succeeded, none twice.
    const counted = (await succeededSoFar(stack)) - before;
    if (counted !== tasks) throw new Error(`the worker counted ${counted} succeeded tasks, expected ${tasks}`);
    // Every task's final state reaches the browsers' side: at least one event per task (updates of one task
    // within 50 ms are coalesced into its latest). A summary-tracked type's successes are counted, not recorded.
    if (!summary) for (const until = Date.now() + 5000; watcher.count() < tasks && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    if (!summary && watcher.count() < tasks) throw new Error(`the task event watcher received ${watcher.count()} events for ${tasks} tasks`);
    return { system: `Taskcast (${PATH_NAMES[via]}${stack.variant ? `, ${stack.variant}` : ""})`, concurrency: Number(stack.env.WORKER_CONCURRENCY), tasks, seconds, perSecond: tasks / seconds, workerRssMiB: { atRest: rss.atRest, peak: rss.sampler.stop() }, taskEvents: watcher.count() };
  } finally {
    rss.sampler.stop();
    watcher.close();
    redis.disconnect();
  }
}

/**
 * Tasks the worker has recorded as succeeded, from the per-second activity counters of the last 20 minutes in Redis
 * (what the dashboard's chart reads; they lag up to 250 ms). Reading them costs the worker nothing.
 */
async function succeededInCounters(stack: TaskcastStack, redis: Redis): Promise<number> {
  const minute = Math.floor(Date.now() / 60_000);
  const pipeline = redis.pipeline();
  for (let m = minute - 20; m <= minute; m++) pipeline.hvals(`${stack.env.KEY_PREFIX}:stats:succeeded:${m}`);
  const replies = (await pipeline.exec()) ?? [];
  return replies.reduce((sum, [, values]) => sum + (values as string[]).reduce((n, v) => n + Number(v), 0), 0);
}

/** Echo tasks the worker has recorded as succeeded, from its GET /metrics. */
export async function succeededSoFar(stack: TaskcastStack): Promise<number> {
  const text = await (await fetch(`${stack.workerMetricsUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("taskcast_tasks_finished_total{") && l.includes('type="echo"') && l.includes('status="succeeded"'));
  return line ? Number(line.split(" ").at(-1)) : 0;
}
