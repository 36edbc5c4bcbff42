// A web node's parts wired together: HTTP server with the JSON API, Next.js pages and Socket.IO.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import type { AuditEntry } from "../lib/auth";
import { liveCopy, type Health, type QueueStats, type TaskRecord } from "../lib/contract";
import { BroadcastIngestor } from "./broadcast/ingestor";
import { BroadcastLog } from "./broadcast/broadcast-log";
import { BroadcastService } from "./broadcast/broadcast-service";
import { AuditLog } from "./audit/audit-log";
import { Authenticator } from "./auth/authenticator";
import { Credentials } from "./auth/credentials";
import { SessionStore } from "./auth/sessions";
import { checkExposure, type Config } from "./config";
import { messageOf } from "./errors";
import { createApi } from "./http/api";
import { authRoutes } from "./http/auth-routes";
import { RateLimiter } from "./http/rate-limiter";
import { createRequestGuard } from "./http/request-guard";
import { taskRoutes } from "./http/task-routes";
import type { Logger } from "./logger";
import { insightsRoutes } from "./metrics/insights-routes";
import { sendMetrics } from "./metrics/metrics-server";
import { WebMetrics } from "./metrics/prometheus";
import { RelayLagTracker } from "./metrics/relay-lag";
import { startStatsTicker, StatsStore } from "./metrics/stats-store";
import { WorkersView } from "./metrics/workers-view";
import { connectAmqp, type AmqpConnection } from "./queue/amqp";
import { DeadLetterQueue } from "./queue/dead-letters";
import { ConfirmPublisher } from "./queue/publisher";
import { QueueStatsReader } from "./queue/stats";
import { assertTopology, topologyFor } from "./queue/topology";
import type { WorkerList } from "../lib/insights";
import { PresenceTicker } from "./realtime/presence";
import { UpdateCoalescer } from "./realtime/update-coalescer";
import { createSocketServer, relayBroadcasts, relayTaskUpdates, sessionRoom, startHealthTicker, startQueueStatsTicker } from "./realtime/socket-server";
import { createRedis, waitForRedis, type Redis } from "./redis/connect";
import { redisKeys } from "./redis/keys";
import { withSafePublish } from "./redis/safe-publish";
import { IdempotencyKeys } from "./store/idempotency";
import { TaskStore } from "./store/task-store";
import { WorkerDirectory } from "./store/worker-directory";
import { startStallDetector } from "./tasks/stall-detector";
import { TaskService } from "./tasks/task-service";

const QUEUE_STATS_INTERVAL_MS = 1000;
const STALL_SWEEP_INTERVAL_MS = 2000;
const PRESENCE_INTERVAL_MS = 1000;
const HEALTH_INTERVAL_MS = 1000;
const WORKERS_VIEW_INTERVAL_MS = 1000;

export type PageHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface WebNode {
  /** The base URL the node listens on, e.g. http://127.0.0.1:3000 */
  url: string;
  port: number;
  /** Stops accepting connections, then closes Socket.IO, RabbitMQ and Redis. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts a web node. `pages` serves everything that is not the API (Next.js in production);
 * tests run the node without it.
 */
export async function startWebNode(config: Config, log: Logger, pages?: PageHandler): Promise<WebNode> {
  const exposureWarning = checkExposure(config);
  if (exposureWarning) log.warn(exposureWarning);
  const keys = redisKeys(config.KEY_PREFIX);
  const redis = createRedis(config.REDIS_URL, "taskcast-web", log);
  const adapterSub = createRedis(config.REDIS_URL, "taskcast-web-adapter-sub", log, "subscriber");
  const broadcastSub = createRedis(config.REDIS_URL, "taskcast-web-broadcast-sub", log, "subscriber");
  await Promise.all([redis, adapterSub, broadcastSub].map((c) => waitForRedis(c, config.REDIS_URL)));

  const sessions = new SessionStore(redis, keys, config.SESSION_TTL_HOURS * 3_600_000, config.SESSION_SECRET);
  await sessions.init();
  const auth = new Authenticator(new Credentials(config.users, config.tokens), sessions, config.TRUST_PROXY);
  // `io` exists once the HTTP server does; until then no tab is open to show an entry.
  let pushAudit: (entry: AuditEntry) => void = () => undefined;
  const audit = new AuditLog(redis, keys, config.AUDIT_LOG_LIMIT, log, (entry) => {
    metrics.operatorAction(entry.action);
    pushAudit(entry);
  });
  const loopbackOnly = config.users.length === 0 && !config.ALLOW_INSECURE_NO_AUTH;
  const store = new TaskStore(redis, keys, config.TASK_HISTORY_LIMIT);
  let lastQueueSample: QueueStats | undefined;
  // `io` exists once the HTTP server does; the gauge reads it only when scraped.
  let socketCount = () => 0;
  const metrics = new WebMetrics({ redis, keys, queue: () => lastQueueSample, sockets: () => socketCount() });
  const workers = new WorkerDirectory(redis, keys);
  const stats = new StatsStore(redis, config.KEY_PREFIX);
  const relayLag = new RelayLagTracker();
  // `io` exists once the HTTP server does; until then there is no tab to push to.
  let pushWorkers: (list: WorkerList) => void = () => undefined;
  const workersView = new WorkersView(workers, log, (list) => pushWorkers(list));
  const broadcastLog = new BroadcastLog(redis, keys, config.BROADCAST_CHANNEL, config.BROADCAST_HISTORY, (b) => {
    metrics.broadcastLogged(b.source);
    return stats.count("broadcasts", Date.parse(b.at));
  });
  const broadcasts = new BroadcastService(broadcastLog, config.BROADCAST_MAX_BYTES);

  let amqp: AmqpConnection | undefined;
  const getAmqp = () => amqp!;
  const topology = topologyFor(config);
  const publisher = new ConfirmPublisher(getAmqp, topology, log);
  const queueStats = new QueueStatsReader(getAmqp, topology, workers, log);
  amqp = await connectAmqp({
    url: config.RABBITMQ_URL,
    name: "taskcast-web",
    log,
    setup: async (model) => {
      await assertTopology(model, topology, log);
      await publisher.setup(model);
      await queueStats.setup(model);
    },
  });

  const health = async (): Promise<Health> => {
    const rabbitmq = amqp!.isUp() ? "up" : "down";
    const redisUp = await ping(redis);
    return { status: rabbitmq === "up" && redisUp ? "ok" : "degraded", rabbitmq, redis: redisUp ? "up" : "down" };
  };

  // `io` exists once the HTTP server does; tasks are announced through it to every node's tabs.
  let announce: (record: TaskRecord) => void = () => undefined;
  const tasks = new TaskService({
    store,
    publisher,
    deadLetters: new DeadLetterQueue(topology, log),
    idempotency: new IdempotencyKeys(redis, keys),
    amqp: getAmqp,
    topology,
    redis,
    keys,
    announce: (record) => announce(record),
    submitted: (record) => metrics.taskSubmitted(record),
    log,
  });
  const api = createApi({ tasks, store, broadcasts, broadcastLog, queueStats, health, presence: () => presence?.current() ?? { total: 0, nodes: [] }, audit, log }, [
    ...authRoutes({
      auth,
      audit,
      cookieSecure: config.COOKIE_SECURE,
      loginAttemptsPerMinute: config.LOGIN_ATTEMPTS_PER_MINUTE,
      onSignOut: (sessionId) => io.in(sessionRoom(sessionId)).disconnectSockets(true),
    }),
    ...taskRoutes({ store }),
    ...insightsRoutes({ stats, workers: workersView, webNodes: () => presence?.webNodes() ?? { nodes: [] } }),
  ]);

  const guard = createRequestGuard({ auth, limiter: new RateLimiter(config.API_RATE, config.API_BURST), allowedOrigins: config.ALLOWED_ORIGINS, loopbackOnly, dev: config.NODE_ENV === "development" });
  const httpServer = createServer((req, res) => {
    guard(req, res)
      .then(async (ctx) => {
        if (!ctx) return;
        if (req.url?.split("?")[0] === "/metrics" && req.method === "GET") return sendMetrics(metrics.registry, res);
        if (await api(req, res, ctx)) return;
        if (pages) return pages(req, res);
        res.writeHead(404, { "Content-Type": "text/plain" }).end("Not found");
      })
      .catch((err: unknown) => {
        log.error({ err: messageOf(err), url: req.url }, "request failed");
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
        res.end("Internal error");
      });
  });

  let presence: PresenceTicker | undefined;
  let healthTicker: ReturnType<typeof startHealthTicker> | undefined;
  const io = createSocketServer({
    httpServer,
    pubClient: withSafePublish(redis, log),
    subClient: adapterSub,
    adapterKey: keys.socketIo,
    tasks,
    broadcasts,
    broadcastLog,
    limits: {
      rate: config.BROADCAST_RATE,
      burst: config.BROADCAST_BURST,
      allowedOrigins: config.ALLOWED_ORIGINS,
      eventRate: config.API_RATE,
      eventBurst: config.API_BURST,
      loopbackOnly,
    },
    auth,
    audit,
    snapshot: (socket) => {
      presence?.sendSnapshot(socket);
      const current = healthTicker?.current();
      if (current) socket.emit("health", current);
    },
    log,
  });
  // Changes made here (submissions, cancels, retries, stalls) go out like the workers' updates: in 50 ms
  // batches, one message to the other web nodes, and each record to this node's own tabs.
  const announcements = new UpdateCoalescer((records) => {
    const live = records.map(liveCopy);
    io.serverSideEmit("task:updates", live);
    for (const record of live) io.local.emit("task:update", record);
  });
  announce = (record) => announcements.push(record);
  relayTaskUpdates(io, log);
  socketCount = () => io.engine.clientsCount;
  pushAudit = (entry) => io.emit("audit:entry", entry);
  await relayBroadcasts(io, broadcastSub, config.BROADCAST_CHANNEL, log, (b) => relayLag.note(b.at));
  const ingestor = new BroadcastIngestor(redis, broadcastSub, keys, config.BROADCAST_CHANNEL, broadcastLog, config.BROADCAST_MAX_BYTES, log);
  await ingestor.start();
  healthTicker = startHealthTicker(io, health, HEALTH_INTERVAL_MS);
  const stopTicker = startQueueStatsTicker(io, () => queueStats.read(), QUEUE_STATS_INTERVAL_MS, log, (sample) => {
    lastQueueSample = sample;
    const { ready, unacked } = sample;
    stats.sample({ ready, unacked }).catch((err: unknown) => log.debug({ err: messageOf(err) }, "queue depth sample not saved"));
  });
  pushWorkers = (list) => io.local.emit("workers:update", list);
  workersView.start(WORKERS_VIEW_INTERVAL_MS);
  const stopStatsTicker = startStatsTicker(io, stats, log);
  const stopStallDetector = startStallDetector({ store, workers, announce: (record) => announce(record), intervalMs: STALL_SWEEP_INTERVAL_MS, log });

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(config.PORT, config.HOST, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  presence = new PresenceTicker(() => io, redis, keys, broadcastLog, log, `${hostname()}:${port}`, () => relayLag.summary());
  presence.start(PRESENCE_INTERVAL_MS);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const steps: Array<[string, () => Promise<unknown>]> = [
        ["stop queue stats", async () => stopTicker()],
        ["stop health pushes", async () => healthTicker!.stop()],
        ["stop the workers list", async () => workersView.stop()],
        ["stop activity pushes", async () => stopStatsTicker()],
        ["stop stalled-task sweeps", async () => stopStallDetector()],
        ["leave presence", () => presence!.stop()],
        ["stop ingesting broadcasts", () => ingestor.stop()],
        ["send the last task updates", async () => announcements.flush()],
        ["close Socket.IO and HTTP", () => new Promise<void>((resolve) => void io.close(() => resolve()))],
        ["close RabbitMQ", () => amqp!.close()],
        ["close Redis", () => Promise.all([redis, adapterSub, broadcastSub].map((c) => c.quit().catch(() => c.disconnect())))],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          log.warn({ step: name, err: messageOf(err) }, "shutdown step failed");
        }
      }
    })());

  return { url, port, close };
}

async function ping(redis: Redis): Promise<boolean> {
  if (redis.status !== "ready") return false;
  try {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), 1000).unref());
    return (await Promise.race([redis.ping(), timeout])) === "PONG";
  } catch {
    return false;
  }
}
