// A worker process's parts wired together: RabbitMQ consumer, task runner, Redis records, browser events.
import { Emitter } from "@socket.io/redis-emitter";
import { hostname } from "node:os";
import { hostAllowlist } from "./access/origin-policy";
import { ADDRESS_RATE_FACTOR, RateLimiter } from "./access/token-bucket";
import { Credentials } from "./auth/credentials";
import { checkExposure, type Config } from "./config";
import { CancelRequests } from "./lifecycle/cancel-requests";
import { scheduleFromMessage } from "./lifecycle/scheduled-tasks";
import { SummaryOutcomes } from "./lifecycle/summary-outcomes";
import { cancelledByOperator, TaskRunner } from "./lifecycle/task-runner";
import type { Logger } from "./logger";
import { startMetricsServer } from "./metrics/metrics-server";
import { WorkerMetrics } from "./metrics/prometheus";
import { FinishedSummary } from "./metrics/finished-summary";
import { compactWhenIdle } from "./metrics/idle-compaction";
import { StatsStore } from "./metrics/stats-store";
import { connectAmqp, type AmqpConnection } from "./queue/amqp";
import { TaskConsumer } from "./queue/consumer";
import { DeadLetterQueue } from "./queue/dead-letters";
import { ConfirmPublisher } from "./queue/publisher";
import { ReplySender } from "./queue/replies";
import { assertTopology, topologyFor } from "./queue/topology";
import { workerTaskUpdates } from "./realtime/task-events";
import { workerTaskLogs } from "./realtime/task-logs";
import { createRedis, waitForRedis } from "./redis/connect";
import { RedisOutageGate } from "./redis/outage-gate";
import { redisKeys } from "./redis/keys";
import { withSafePublish } from "./redis/safe-publish";
import { closeRedis, shutdownInOrder } from "./shutdown";
import { QueuePauses } from "./store/queue-pauses";
import { announcedQueueOf } from "./store/task-routes";
import { SummaryMarks } from "./store/summary-marks";
import { TaskLogStore } from "./store/task-logs";
import { TaskStore } from "./store/task-store";
import { WorkerDirectory } from "./store/worker-directory";
import { summaryTracking } from "./tasks/registry";

const HEARTBEAT_MS = 1000;

export interface WorkerNode {
  id: string;
  /** Base URL of the worker's GET /metrics and /healthz. */
  metricsUrl: string;
  /** Stops consuming, lets running tasks finish within the grace period, then closes connections. Safe to call twice. */
  close(): Promise<void>;
}

export async function startWorkerNode(config: Config, log: Logger): Promise<WorkerNode> {
  // The metrics port follows the web nodes' rules: refuse (or warn) before connecting to anything.
  const exposureWarning = checkExposure(config, "worker");
  if (exposureWarning) log.warn(exposureWarning);
  const id = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 6)}`;
  const keys = redisKeys(config.KEY_PREFIX);
  const redis = createRedis(config.REDIS_URL, "taskcast-worker", log);
  const cancelSub = createRedis(config.REDIS_URL, "taskcast-worker-cancel-sub", log, "subscriber");
  await Promise.all([redis, cancelSub].map((c) => waitForRedis(c, config.REDIS_URL)));
  const store = new TaskStore(redis, keys, config.TASK_HISTORY_LIMIT);
  const directory = new WorkerDirectory(redis, keys);
  const summaryMarks = new SummaryMarks(redis, keys);
  const counters = new StatsStore(redis, config.KEY_PREFIX).batched(log);
  const summary = new FinishedSummary(log);
  const emitter = new Emitter(withSafePublish(redis, log), { key: keys.socketIo });
  const updates = workerTaskUpdates(emitter);
  const topology = topologyFor(config);

  let amqp: AmqpConnection | undefined;
  const replies = new ReplySender(() => amqp!, log);
  const publisher = new ConfirmPublisher(() => amqp!, topology, log);
  const deadLetters = new DeadLetterQueue(topology, log);
  const metrics = new WorkerMetrics({ running: () => consumer.busy, concurrency: config.WORKER_CONCURRENCY, prefetch: () => consumer.heldAtMost });
  const runner = new TaskRunner({
    store,
    publisher,
    workerId: id,
    log,
    heldElsewhere: (workerId, taskId) => directory.holds(workerId, taskId),
    outsideTypes: { queueOf: (type) => announcedQueueOf(redis, keys, type), forward: (queue, content, properties) => publisher.forward(queue, content, properties) },
    removeDeadCopy: (taskId) => deadLetters.remove(amqp!.current(), taskId, { oneCopy: true }),
    publish: (record) => {
      metrics.recorded(record);
      updates.push(record);
    },
    logs: { store: new TaskLogStore(redis, keys), publish: workerTaskLogs(emitter) },
    schedule: scheduleFromMessage({ store, log, publish: (record) => updates.push(record) }),
    finished: (record) => {
      counters.countFinished(record);
      summary.count(record);
    },
    reply: (replyTo, correlationId, record) => replies.send(replyTo, correlationId, record),
    summary: {
      tracks: summaryTracking(config.TASK_TRACK_SUMMARY),
      outcomes: new SummaryOutcomes(summaryMarks, log),
      marks: summaryMarks,
      whenAckSettled: (message, settled) => consumer.whenAckSettled(message, settled),
      counted: (record) => metrics.recorded(record),
    },
  });
  const declare = (model: Parameters<typeof assertTopology>[0]) => assertTopology(model, topology, log);
  const outages = new RedisOutageGate(redis, log);
  const consumer = new TaskConsumer(config.TASK_QUEUE, config.WORKER_CONCURRENCY, config.WORKER_PREFETCH, (msg, slot) => outages.run(() => runner.run(msg, slot)), declare, log);
  // Whether an operator paused the queue, known before the first consume: a worker started while paused stays paused.
  const stopWatchingPause = await new QueuePauses(redis, keys).watch(cancelSub, config.TASK_QUEUE, log, (paused) => void consumer.setPaused(paused));
  amqp = await connectAmqp({
    url: config.rabbitmqUrls,
    name: `taskcast-worker ${id}`,
    log,
    setup: async (model) => {
      await declare(model);
      await publisher.setup(model);
      await consumer.setup(model);
    },
  });

  // Web nodes ask every worker to cancel a running task; whichever runs it aborts its handler.
  await CancelRequests.listen(cancelSub, keys, log, (taskId) => {
    if (runner.abort(taskId, cancelledByOperator())) log.info({ taskId }, "cancelling the running task");
  });

  const stopSummary = summary.start();
  const stopCompacting = compactWhenIdle(() => consumer.settled, log);
  const stopBeating = directory.startBeating(
    { id, host: hostname(), pid: process.pid, concurrency: config.WORKER_CONCURRENCY, startedAt: new Date().toISOString() },
    () => ({ inflight: consumer.inflight, processed: consumer.settled, running: runner.runningIds() }),
    HEARTBEAT_MS,
    log,
  );
  const metricsServer = await startMetricsServer({
    registry: metrics.registry,
    host: config.HOST,
    port: config.WORKER_METRICS_PORT,
    credentials: new Credentials(config.users, config.tokens),
    allowedHosts: config.users.length === 0 ? hostAllowlist(config.HOST, config.ALLOWED_HOSTS, config.ALLOWED_ORIGINS) : null,
    trustedHops: config.TRUST_PROXY,
    failures: new RateLimiter(config.API_RATE, config.API_BURST),
    perAddress: new RateLimiter(ADDRESS_RATE_FACTOR * config.API_RATE, ADDRESS_RATE_FACTOR * config.API_BURST),
    healthy: () => amqp!.isUp() && redis.status === "ready",
    log,
  });

  const close = shutdownInOrder(log, [
    ["announce", () => log.info("worker stopping: no new tasks")],
    ["stop watching whether the queue is paused", () => stopWatchingPause()],
    ["stop consuming", () => consumer.stop()],
    ["stop holding deliveries for Redis", () => outages.stop()],
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
    ["send the last task updates", () => updates.flush()],
    ["log the last finished-tasks summary", () => stopSummary()],
    ["stop giving memory back when idle", () => stopCompacting()],
    ["save the last activity counts", () => counters.flush()],
    ["close RabbitMQ", () => amqp!.close()],
    ["stop serving metrics", () => metricsServer.close()],
    ["stop heartbeat", () => stopBeating()],
    ["remove heartbeat", () => directory.remove(id)],
    ["close Redis", () => closeRedis(redis, cancelSub)],
    ["report", () => log.info("worker stopped")],
  ]);
  return { id, metricsUrl: metricsServer.url, close };
}
