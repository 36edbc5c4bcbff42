// A worker process's parts wired together: RabbitMQ consumer, task runner, Redis records, browser events.
import { Emitter } from "@socket.io/redis-emitter";
import { hostname } from "node:os";
import { liveCopy } from "../lib/contract";
import type { InterServerEvents } from "../lib/socket-events";
import type { Config } from "./config";
import { messageOf } from "./errors";
import type { Logger } from "./logger";
import { Credentials } from "./auth/credentials";
import { startMetricsServer } from "./metrics/metrics-server";
import { WorkerMetrics } from "./metrics/prometheus";
import { StatsStore } from "./metrics/stats-store";
import { ChannelSlot, connectAmqp, type AmqpConnection } from "./queue/amqp";
import { TaskConsumer } from "./queue/consumer";
import { ConfirmPublisher } from "./queue/publisher";
import { assertTopology, topologyFor } from "./queue/topology";
import { createRedis, waitForRedis } from "./redis/connect";
import { redisKeys } from "./redis/keys";
import { UpdateCoalescer } from "./realtime/update-coalescer";
import { withSafePublish } from "./redis/safe-publish";
import { TaskStore } from "./store/task-store";
import { WorkerDirectory } from "./store/worker-directory";
import { AttemptAbort, TaskRunner } from "./tasks/task-runner";

const HEARTBEAT_MS = 1000;

export interface WorkerNode {
  id: string;
  /** Base URL of the worker's GET /metrics and /healthz. */
  metricsUrl: string;
  /** Stops consuming, lets running tasks finish within the grace period, then closes connections. Safe to call twice. */
  close(): Promise<void>;
}

export async function startWorkerNode(config: Config, log: Logger): Promise<WorkerNode> {
  const id = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 6)}`;
  const keys = redisKeys(config.KEY_PREFIX);
  const redis = createRedis(config.REDIS_URL, "taskcast-worker", log);
  const cancelSub = createRedis(config.REDIS_URL, "taskcast-worker-cancel-sub", log, "subscriber");
  await Promise.all([redis, cancelSub].map((c) => waitForRedis(c, config.REDIS_URL)));
  const emitter = new Emitter(withSafePublish(redis, log), { key: keys.socketIo });
  // The emitter's serverSideEmit is untyped: this holds it to the InterServerEvents contract.
  const toWebNodes = <E extends keyof InterServerEvents>(event: E, ...args: Parameters<InterServerEvents[E]>) => emitter.serverSideEmit(event, ...args);
  const store = new TaskStore(redis, keys, config.TASK_HISTORY_LIMIT);
  const directory = new WorkerDirectory(redis, keys);
  const stats = new StatsStore(redis, config.KEY_PREFIX);
  const topology = topologyFor(config);

  let amqp: AmqpConnection | undefined;
  const replies = new ChannelSlot(() => amqp!, (model) => model.createChannel(), log);
  const publisher = new ConfirmPublisher(() => amqp!, topology, log);
  // `consumer` exists below; the gauge reads it only when scraped.
  let running = () => 0;
  const metrics = new WorkerMetrics({ running: () => running(), concurrency: config.WORKER_CONCURRENCY });
  const counters = stats.batched(log);
  const updates = new UpdateCoalescer((records) => toWebNodes("task:updates", records.map(liveCopy)));
  const runner = new TaskRunner({
    store,
    publisher,
    workerId: id,
    log,
    heldElsewhere: async (workerId, taskId) => (await directory.live()).some((w) => w.id === workerId && w.running.includes(taskId)),
    publish: (record) => {
      metrics.recorded(record);
      updates.push(record);
    },
    finished: (record) => {
      if (record.status === "succeeded" || record.status === "failed" || record.status === "dead") {
        counters.count(record.status, record.finishedAt ? Date.parse(record.finishedAt) : Date.now());
      }
    },
    reply: (replyTo, correlationId, record) => {
      // One reply channel per connection, re-opened when it closes; a lost reply is logged, never fatal.
      replies
        .get()
        .then((channel) => channel.sendToQueue(replyTo, Buffer.from(JSON.stringify(record)), { correlationId, contentType: "application/json" }))
        .catch((err: unknown) => log.warn({ taskId: record.id, replyTo, err: messageOf(err) }, "could not send the reply"));
    },
  });
  const declare = (model: Parameters<typeof assertTopology>[0]) => assertTopology(model, topology, log);
  const consumer = new TaskConsumer(config.TASK_QUEUE, config.WORKER_CONCURRENCY, (msg) => runner.run(msg), declare, log);
  running = () => consumer.inflight;
  amqp = await connectAmqp({
    url: config.RABBITMQ_URL,
    name: `taskcast-worker ${id}`,
    log,
    setup: async (model) => {
      await declare(model);
      await publisher.setup(model);
      await consumer.setup(model);
    },
  });

  // Web nodes ask on this channel to cancel a running task; whichever worker runs it aborts its handler.
  cancelSub.on("message", (channel: string, taskId: string) => {
    if (channel === keys.taskCancel && runner.abort(taskId, new AttemptAbort("cancelled", "Cancelled by an operator."))) log.info({ taskId }, "cancelling the running task");
  });
  await cancelSub.subscribe(keys.taskCancel);

  const startedAt = new Date().toISOString();
  const beat = () => {
    directory
      .beat({ id, host: hostname(), pid: process.pid, concurrency: config.WORKER_CONCURRENCY, inflight: consumer.inflight, processed: consumer.settled, running: runner.runningIds(), startedAt, beatAt: Date.now() })
      .catch((err: unknown) => log.warn({ err: messageOf(err) }, "heartbeat not saved"));
  };
  beat();
  const heartbeat = setInterval(beat, HEARTBEAT_MS);
  const metricsServer = await startMetricsServer({
    registry: metrics.registry,
    host: config.HOST,
    port: config.WORKER_METRICS_PORT,
    credentials: new Credentials(config.users, config.tokens),
    healthy: () => amqp!.isUp() && redis.status === "ready",
    log,
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      log.info("worker stopping: no new tasks");
      const steps: Array<[string, () => Promise<unknown>]> = [
        ["stop consuming", () => consumer.stop()],
        [
          "drain",
          async () => {
            const drained = await consumer.drain(config.SHUTDOWN_GRACE_MS);
            if (!drained) {
              log.warn({ graceMs: config.SHUTDOWN_GRACE_MS }, "tasks still running after the grace period; aborting them and handing them back to the queue");
              runner.abortAll();
              await consumer.drain(5000);
            }
          },
        ],
        ["send the last task updates", async () => updates.flush()],
        ["save the last activity counts", () => counters.flush()],
        ["close RabbitMQ", () => amqp!.close()],
        ["stop serving metrics", () => metricsServer.close()],
        ["stop heartbeat", async () => clearInterval(heartbeat)],
        ["remove heartbeat", () => directory.remove(id)],
        ["close Redis", () => Promise.all([redis, cancelSub].map((c) => c.quit().catch(() => c.disconnect())))],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          log.warn({ step: name, err: messageOf(err) }, "shutdown step failed");
        }
      }
      log.info("worker stopped");
    })());

  return { id, metricsUrl: metricsServer.url, close };
}

