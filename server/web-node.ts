// A web node's parts wired together: HTTP server with the JSON API, Next.js pages and Socket.IO.
// Services say what changed on the live-event bus; the Socket.IO relays and the metrics listen to it.
import { createServer, type IncomingMessage } from "node:http";
import { hostname } from "node:os";
import type { TLSSocket } from "node:tls";
import { hostAllowlist } from "./access/origin-policy";
import { ADDRESS_RATE_FACTOR, RateLimiter } from "./access/token-bucket";
import { AuditLog } from "./audit/audit-log";
import { Authenticator } from "./auth/authenticator";
import { Credentials } from "./auth/credentials";
import { PasswordChecker } from "./auth/password-checker";
import { SessionStore } from "./auth/sessions";
import { UsernameLimit } from "./auth/username-limit";
import { BroadcastLog } from "./broadcast/broadcast-log";
import { BroadcastService } from "./broadcast/broadcast-service";
import { IngestThread } from "./broadcast/ingest-host";
import { checkExposure, type Config } from "./config";
import { apiRoutes } from "./http/api";
import { authRoutes } from "./http/auth-routes";
import { createRequestHandler, listen, type PageHandler } from "./http/dispatch";
import { insightsRoutes } from "./http/insights-routes";
import { createRequestGuard } from "./http/request-guard";
import { createRouter } from "./http/router";
import { queueRoutes } from "./http/queue-routes";
import { scheduleRoutes } from "./http/schedule-routes";
import { taskRoutes } from "./http/task-routes";
import { CancelRequests } from "./lifecycle/cancel-requests";
import { ScheduledTaskMover } from "./lifecycle/scheduled-tasks";
import { startStallDetector } from "./lifecycle/stall-detector";
import { TaskSubmission } from "./lifecycle/submission";
import { DeadLetterBulk } from "./lifecycle/dead-letter-bulk";
import { ScheduleService } from "./lifecycle/schedule-service";
import { Scheduler } from "./lifecycle/scheduler";
import { TaskService } from "./lifecycle/task-service";
import { WorkerEvents } from "./lifecycle/worker-events";
import { LiveEvents } from "./live-events";
import type { Logger } from "./logger";
import { healthCheck } from "./metrics/health";
import { WebMetrics } from "./metrics/prometheus";
import { startQueueSampler } from "./metrics/queue-sampler";
import { RelayLagTracker } from "./metrics/relay-lag";
import { StatsStore } from "./metrics/stats-store";
import { WorkersView } from "./metrics/workers-view";
import { connectAmqp, type AmqpConnection } from "./queue/amqp";
import { DeadLetterQueue } from "./queue/dead-letters";
import { TaskConsumer } from "./queue/consumer";
import { ConfirmPublisher } from "./queue/publisher";
import { ReplySender } from "./queue/replies";
import { QueueStatsReader } from "./queue/stats";
import { TaskRoutes } from "./store/task-routes";
import { assertTopology, assertWorkQueue, topologyFor } from "./queue/topology";
import { handleBroadcastEvents, relayBroadcasts } from "./realtime/broadcast-events";
import { capSocketsPerPrincipal } from "./realtime/connection-cap";
import { checkHandshakes } from "./realtime/handshake";
import { relayLiveEvents } from "./realtime/live-relay";
import { PresenceTicker } from "./realtime/presence";
import { SESSION_CHECK_MS, startSessionSweep } from "./realtime/session-sweep";
import { limitEvents } from "./realtime/requests";
import { corkFlushes } from "./realtime/corked-flush";
import { createSocketServer } from "./realtime/socket-server";
import { handleTaskSubmit, relayTaskUpdates } from "./realtime/task-events";
import { relayTaskLogs } from "./realtime/task-logs";
import { relaySchedules } from "./realtime/schedule-events";
import { handleStreamSelection } from "./realtime/stream-rooms";
import { relayQueueStats, startHealthTicker, startStatsTicker } from "./realtime/tickers";
import { createRedis, redisTime, waitForRedis } from "./redis/connect";
import { redisKeys } from "./redis/keys";
import { withSafePublish } from "./redis/safe-publish";
import { closeRedis, shutdownInOrder } from "./shutdown";
import { IdempotencyKeys } from "./store/idempotency";
import { PublishOutbox } from "./store/publish-outbox";
import { QueuePauses } from "./store/queue-pauses";
import { ScheduleStore } from "./store/schedules";
import { TaskLogStore } from "./store/task-logs";
import { TaskStore } from "./store/task-store";
import { WorkerDirectory } from "./store/worker-directory";

const QUEUE_STATS_INTERVAL_MS = 1000;
const STALL_SWEEP_INTERVAL_MS = 2000;
const PRESENCE_INTERVAL_MS = 1000;
const HEALTH_INTERVAL_MS = 1000;
const WORKERS_VIEW_INTERVAL_MS = 1000;
/** Outside workers' events applied at once by this node (those of one task always one after another). */
const WORKER_EVENTS_CONCURRENCY = 16;
const WORKER_EVENTS_PREFETCH = 64;

export type { PageHandler };

export interface WebNode {
  /** The base URL the node listens on, e.g. http://127.0.0.1:3000 */
  url: string;
  port: number;
  /** Stops accepting connections, then closes Socket.IO, RabbitMQ and Redis. Safe to call twice. */
  close(): Promise<void>;
}

/** Internal timings a test may shorten; not settings. */
export interface WebNodeTuning {
  /** How often the node checks its sockets' sign-in sessions. @defaultValue 5000 */
  sessionCheckMs?: number;
}

/**
 * Starts a web node. `pages` serves everything that is not the API (Next.js in production);
 * tests run the node without it.
 */
export async function startWebNode(config: Config, log: Logger, pages?: PageHandler, tuning: WebNodeTuning = {}): Promise<WebNode> {
  const exposureWarning = checkExposure(config, "web");
  if (exposureWarning) log.warn(exposureWarning);
  const keys = redisKeys(config.KEY_PREFIX);
  const redis = createRedis(config.REDIS_URL, "taskcast-web", log);
  const adapterSub = createRedis(config.REDIS_URL, "taskcast-web-adapter-sub", log, "subscriber");
  const broadcastSub = createRedis(config.REDIS_URL, "taskcast-web-broadcast-sub", log, "subscriber");
  await Promise.all([redis, adapterSub, broadcastSub].map((c) => waitForRedis(c, config.REDIS_URL)));

  // State in Redis, and the services over it; they report changes on the bus.
  const live = new LiveEvents();
  const sessions = new SessionStore(redis, keys, { idleMs: config.SESSION_TTL_HOURS * 3_600_000, maxMs: config.SESSION_MAX_HOURS * 3_600_000 }, config.SESSION_SECRET);
  await sessions.init();
  const passwords = new PasswordChecker(config.LOGIN_CONCURRENT_CHECKS);
  const auth = new Authenticator(new Credentials(config.users, config.tokens, (password, hash) => passwords.compare(password, hash)), sessions, config.TRUST_PROXY);
  const audit = new AuditLog(redis, keys, config.AUDIT_LOG_LIMIT, log, live);
  const store = new TaskStore(redis, keys, config.TASK_HISTORY_LIMIT);
  const workers = new WorkerDirectory(redis, keys);
  const stats = new StatsStore(redis, config.KEY_PREFIX);
  const workersView = new WorkersView(workers, log, live);
  const relayLag = new RelayLagTracker();
  // Counted in memory and written every 250 ms: a round trip per broadcast cost the ingest lease holder a tenth of a core at 100 a second.
  const counters = stats.batched(log);

  // RabbitMQ: the topology, confirmed publishing and queue stats, set up again on every reconnection.
  const topology = topologyFor(config);
  let amqp: AmqpConnection | undefined;
  const publisher = new ConfirmPublisher(() => amqp!, topology, log);
  const routes = new TaskRoutes({ redis, keys, topology, workers, declareQueue: (queue) => assertWorkQueue(amqp!.current(), topology, queue), log });
  const pauses = new QueuePauses(redis, keys);
  const queueStats = new QueueStatsReader(() => amqp!, topology, { inflightByQueue: () => workers.inflightByQueue(topology.queue), knownQueues: () => routes.queues(), pausedOf: (queues) => pauses.pausedOf(queues) }, log);
  const deadLetters = new DeadLetterQueue(topology, log);
  // Outside workers' events (worker protocol): every web node consumes <TASK_QUEUE>.events, so a dashboard with
  // only outside workers needs no Taskcast worker.
  const replies = new ReplySender(() => amqp!, log);
  const workerEvents = new WorkerEvents({
    store,
    workers,
    routes,
    isPaused: (queue) => pauses.isPaused(queue),
    publisher,
    removeDeadCopy: (taskId) => deadLetters.remove(amqp!.current(), taskId, { oneCopy: true }),
    reply: (replyTo, correlationId, record) => replies.send(replyTo, correlationId, record),
    answer: (replyTo, correlationId, verdict) => replies.sendJson(replyTo, correlationId, `${verdict.id}:verdict`, verdict),
    live,
    log,
    finished: (record) => counters.countFinished(record),
  });
  const declare = (model: Parameters<typeof assertTopology>[0]) => assertTopology(model, topology, log);
  const eventsConsumer = new TaskConsumer(topology.events, WORKER_EVENTS_CONCURRENCY, WORKER_EVENTS_PREFETCH, (message) => workerEvents.handle(message), declare, log);
  amqp = await connectAmqp({
    url: config.rabbitmqUrls,
    name: "taskcast-web",
    log,
    setup: async (model) => {
      routes.reset();
      await declare(model);
      await publisher.setup(model);
      await queueStats.setup(model);
      await eventsConsumer.setup(model);
    },
  });
  const health = healthCheck(amqp, redis);
  const outbox = new PublishOutbox(redis, keys);
  const lifecycle = { store, publisher, outbox, amqp: () => amqp!, audit, live, log };
  const now = () => redisTime(redis);
  const submission = new TaskSubmission({ ...lifecycle, routes, idempotency: new IdempotencyKeys(redis, keys), now });
  const tasks = new TaskService({ ...lifecycle, routes, deadLetters, cancels: new CancelRequests(redis, keys), reply: (replyTo, correlationId, record) => replies.send(replyTo, correlationId, record) });
  const bulk = new DeadLetterBulk({ tasks, store, redis, keys, audit, live, batch: config.DEAD_LETTER_BULK_BATCH });
  const scheduleStore = new ScheduleStore(redis, keys);
  const schedules = new ScheduleService({ store: scheduleStore, routes, now, audit, live });
  const scheduler = new Scheduler({ store: scheduleStore, submission, tasks: store, now, live, log });

  // Socket.IO: who may connect, then what flows over it.
  // Nothing authenticates requests without users: answer only to this machine's names and the listed ones.
  const allowedHosts = config.users.length === 0 ? hostAllowlist(config.HOST, config.ALLOWED_HOSTS, config.ALLOWED_ORIGINS) : null;
  const isHttps = (req: IncomingMessage) => auth.isHttps(req.headers, Boolean((req.socket as TLSSocket).encrypted));
  const io = createSocketServer({ pubClient: withSafePublish(redis, log), subClient: adapterSub, adapterKey: keys.socketIo, allowedOrigins: config.ALLOWED_ORIGINS, allowedHosts, isHttps, log });
  // One bucket per client for the API; authentication failures on any path or handshake count against their address.
  const apiLimiter = new RateLimiter(config.API_RATE, config.API_BURST);
  checkHandshakes(io, auth, apiLimiter, log);
  capSocketsPerPrincipal(io, config.SOCKETS_PER_PRINCIPAL);
  // Socket events: one bucket per user or token over all its connections (per connection without users).
  const socketEvents = new RateLimiter(config.API_RATE, config.API_BURST);
  limitEvents(io, socketEvents);
  const metrics = new WebMetrics({ redis, keys, sockets: () => io.engine.clientsCount, live });
  const broadcastLog = new BroadcastLog(redis, keys, config.BROADCAST_CHANNEL, config.BROADCAST_HISTORY, live, async (b) => counters.count("broadcasts", Date.parse(b.at)));
  const broadcasts = new BroadcastService(broadcastLog, config.BROADCAST_MAX_BYTES);
  const presence = new PresenceTicker(io, redis, keys, broadcastLog, log, () => relayLag.summary());
  const healthTicker = startHealthTicker(io, health, HEALTH_INTERVAL_MS);
  const queueRelay = relayQueueStats(io, live);
  handleStreamSelection(io, auth, {
    presence: () => presence.current(),
    channels: () => presence.channelList(),
    health: () => healthTicker.current(),
    queue: () => queueRelay.current(),
    queues: () => queueRelay.currentList(),
  });
  handleBroadcastEvents(io, { broadcasts, broadcastLog, auth, audit, sends: new RateLimiter(config.BROADCAST_RATE, config.BROADCAST_BURST), events: socketEvents, log });
  handleTaskSubmit(io, submission, auth, log);
  const taskUpdates = relayTaskUpdates(io, live, log);
  relayTaskLogs(io, auth, log);
  relayLiveEvents(io, live);
  const scheduleRelay = relaySchedules(io, live, () => schedules.list(), log);
  await relayBroadcasts(io, broadcastSub, keys.broadcastFanout, log, (b) => relayLag.note(b.at));

  // HTTP: the guard, then /metrics, the API and the pages.
  const api = createRouter(
    [
      ...authRoutes({
        auth,
        audit,
        cookieSecure: config.COOKIE_SECURE,
        loginAttemptsPerMinute: config.LOGIN_ATTEMPTS_PER_MINUTE,
        usernameLimit: new UsernameLimit(redis, keys, config.LOGIN_FAILURES_PER_USER_PER_HOUR),
        passwords,
        live,
      }),
      ...taskRoutes({ store }),
      ...queueRoutes({ pauses, knownQueues: () => routes.queues(), audit }),
      ...scheduleRoutes({ schedules }),
      ...insightsRoutes({ stats, workers: workersView, webNodes: () => presence.webNodes() }),
      ...apiRoutes({ submission, tasks, bulk, store, logs: new TaskLogStore(redis, keys), broadcasts, broadcastLog, queueStats, health, presence, audit, announcedTypes: () => routes.announcedTypes() }),
    ],
    log,
  );
  const addressLimiter = new RateLimiter(ADDRESS_RATE_FACTOR * config.API_RATE, ADDRESS_RATE_FACTOR * config.API_BURST);
  const guard = createRequestGuard({ auth, limiter: apiLimiter, addressLimiter, allowedOrigins: config.ALLOWED_ORIGINS, allowedHosts, dev: config.NODE_ENV === "development" });
  const httpServer = createServer();
  httpServer.on("request", createRequestHandler({ guard, api, metrics: metrics.registry, pages, log }));
  io.attach(httpServer);
  corkFlushes(io);

  // The node's own loops.
  // Outside broadcasts are recorded on a thread of the node's own, so fan-out work here never delays them.
  const ingestor = new IngestThread(
    { redisUrl: config.REDIS_URL, keyPrefix: config.KEY_PREFIX, channel: config.BROADCAST_CHANNEL, history: config.BROADCAST_HISTORY, maxBytes: config.BROADCAST_MAX_BYTES, logLevel: config.LOG_LEVEL },
    log,
    (b) => {
      live.emit("broadcast:logged", b);
      counters.count("broadcasts", Date.parse(b.at));
    },
  );
  await ingestor.start();
  stats.followQueueDepth(live, log);
  const stopQueueSampler = startQueueSampler(() => queueStats.readAll(), live, QUEUE_STATS_INTERVAL_MS, log);
  workersView.start(WORKERS_VIEW_INTERVAL_MS);
  const stopStatsTicker = startStatsTicker(io, stats, log);
  const stopSessionSweep = startSessionSweep(io, sessions, tuning.sessionCheckMs ?? SESSION_CHECK_MS, log);
  const stopStallDetector = startStallDetector({ store, workers, publisher, outbox, queueOf: (type) => routes.queueOf(type), live, intervalMs: STALL_SWEEP_INTERVAL_MS, log });
  const scheduled = new ScheduledTaskMover({ redis, keys, store, publisher, queueOf: (type) => routes.queueOf(type), changed: (record) => live.emit("task:changed", record), reply: (replyTo, correlationId, record) => replies.send(replyTo, correlationId, record), log });
  scheduled.start();
  outbox.start();

  scheduler.start();

  const { url, port } = await listen(httpServer, config.PORT, config.HOST);
  presence.start(`${hostname()}:${port}`, PRESENCE_INTERVAL_MS);

  const close = shutdownInOrder(log, [
    ["stop applying outside workers' events", () => eventsConsumer.stop()],
    ["stop queue stats", () => stopQueueSampler()],
    ["stop health pushes", () => healthTicker.stop()],
    ["stop the workers list", () => workersView.stop()],
    ["stop activity pushes", () => stopStatsTicker()],
    ["stop session checks", () => stopSessionSweep()],
    ["stop stalled-task sweeps", () => stopStallDetector()],
    ["stop the schedules' ticks", () => scheduler.stop()],
    ["stop schedule pushes", () => scheduleRelay.stop()],
    ["stop queueing scheduled tasks", () => scheduled.stop()],
    ["leave presence", () => presence.stop()],
    ["stop ingesting broadcasts", () => ingestor.stop()],
    ["send the last task updates", () => taskUpdates.flush()],
    ["close Socket.IO and HTTP", () => new Promise<void>((resolve) => void io.close(() => resolve()))],
    ["stop the password check threads", () => passwords.close()],
    ["finish the outside workers' events under way", () => eventsConsumer.drain(5000)],
    ["save the last activity counts", () => counters.flush()],
    ["close RabbitMQ", () => amqp!.close()],
    ["stop stamping publish marks", () => outbox.stop()],
    ["close Redis", () => closeRedis(redis, adapterSub, broadcastSub)],
  ]);
  return { url, port, close };
}

