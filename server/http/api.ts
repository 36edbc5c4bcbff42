// The JSON API's core routes and /healthz: thin handlers over the web node's services.
import type { IncomingMessage } from "node:http";
import { BroadcastListQuerySchema, liveCopy, ListQuerySchema, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES, TaskListQuerySchema, type BatchAck, type DeadLetterBulkAck, type Health, type Presence, type TaskAck, type TaskTypeInfo } from "../../lib/contract";
import { chargeScan, metered, RECORDS_PER_TOKEN, type ScanMeter } from "../access/scan-cost";
import type { AuditLog } from "../audit/audit-log";
import type { BroadcastLog } from "../broadcast/broadcast-log";
import type { BroadcastService } from "../broadcast/broadcast-service";
import { notFound } from "../errors";
import type { TaskSubmission } from "../lifecycle/submission";
import type { DeadLetterBulk } from "../lifecycle/dead-letter-bulk";
import type { TaskService } from "../lifecycle/task-service";
import type { QueueStatsReader } from "../queue/stats";
import type { TaskLogStore } from "../store/task-logs";
import type { TaskStore } from "../store/task-store";
import type { TaskLogs } from "../../lib/task-logs";
import { taskTypeInfo } from "../tasks/registry";
import { readJsonBody } from "./body";
import { actorOf } from "./request-guard";
import { decodePathSegment, parseQuery, redisCall } from "./respond";
import type { Route } from "./router";

export interface ApiDeps {
  submission: TaskSubmission;
  tasks: TaskService;
  /** Bulk retry and discard of dead letters. */
  bulk: Pick<DeadLetterBulk, "run">;
  store: TaskStore;
  /** Handlers' log lines. */
  logs: Pick<TaskLogStore, "read">;
  broadcasts: BroadcastService;
  broadcastLog: BroadcastLog;
  queueStats: QueueStatsReader;
  health: () => Promise<Health>;
  presence: { current(): Presence };
  audit: AuditLog;
  /** Types that live outside workers announce, with their queue (worker protocol). */
  announcedTypes: () => Promise<TaskTypeInfo[]>;
}

const decodeTaskId = (raw: string) => decodePathSegment(raw, "task id");

export function apiRoutes(deps: ApiDeps): Route[] {
  const routes: Route[] = [
    {
      method: "GET",
      pattern: /^\/healthz$/,
      access: "public",
      handler: async () => {
        const health = await deps.health();
        return [health.status === "ok" ? 200 : 503, health];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/task-types$/,
      handler: async () => {
        // A built-in type wins over an outside worker's type of the same name. Without Redis the built-in types
        // are still offered (as before outside workers existed), not a 503.
        const builtIn = taskTypeInfo();
        const live = await redisCall(() => deps.announcedTypes()).catch(() => []);
        const announced = live.filter((t) => !builtIn.some((b) => b.name === t.name));
        return [200, { types: [...builtIn, ...announced] }];
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/tasks$/,
      handler: async (req, _url, _params, res, ctx) => {
        const header = req.headers["idempotency-key"];
        const idempotencyKey = Array.isArray(header) ? header[0] : header;
        const { record, replayed } = await deps.submission.submit({ input: await readJsonBody(req, MAX_BODY_BYTES), idempotencyKey, actor: actorOf(ctx) });
        if (replayed) res.setHeader("Idempotent-Replayed", "true");
        return [replayed ? 200 : 202, { id: record.id, status: record.status } satisfies TaskAck];
      },
    },
    {
      // One request, so one token of the API rate limit: its size is bounded by MAX_BATCH_TASKS and the body limit.
      method: "POST",
      pattern: /^\/api\/tasks\/batch$/,
      handler: async (req, _url, _params, res, ctx) => {
        const header = req.headers["idempotency-key"];
        const idempotencyKey = Array.isArray(header) ? header[0] : header;
        const { records, replayed } = await deps.submission.submitBatch({ input: await readJsonBody(req, MAX_BATCH_BODY_BYTES), idempotencyKey, actor: actorOf(ctx) });
        if (replayed) res.setHeader("Idempotent-Replayed", "true");
        return [replayed ? 200 : 202, { tasks: records } satisfies BatchAck];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/tasks$/,
      handler: async (_req, url, _params, _res, ctx) => {
        const query = parseQuery(TaskListQuerySchema, url);
        const tasks = await redisCall(() => deps.store.list(query));
        chargeScan(ctx.cost, tasks.length, RECORDS_PER_TOKEN.tasks);
        return [200, { tasks: tasks.map(liveCopy) }];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/tasks\/([^/]+)$/,
      handler: async (_req, _url, [id]) => {
        const taskId = decodeTaskId(id);
        const record = await redisCall(() => deps.store.get(taskId));
        if (!record) throw notFound(`No task with id "${taskId}".`);
        return [200, record];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/tasks\/([^/]+)\/logs$/,
      handler: async (_req, _url, [id]) => {
        const taskId = decodeTaskId(id);
        // The lines first: a task trimmed between the two reads answers 404, not lines without a record.
        const logs = await redisCall(() => deps.logs.read(taskId));
        if (!(await redisCall(() => deps.store.get(taskId)))) throw notFound(`No task with id "${taskId}".`);
        return [200, { logs } satisfies TaskLogs];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/dead-letters$/,
      handler: async (_req, url, _params, _res, ctx) => {
        const { limit } = parseQuery(ListQuerySchema, url);
        const tasks = await redisCall(() => deps.store.deadLetters(limit));
        chargeScan(ctx.cost, tasks.length, RECORDS_PER_TOKEN.tasks);
        return [200, { tasks: tasks.map(liveCopy) }];
      },
    },
    ...(["cancel", "retry", "discard"] as const).map(
      (action): Route => ({
        method: "POST",
        pattern: new RegExp(`^/api/tasks/([^/]+)/${action}$`),
        handler: async (req, _url, [id], _res, ctx) => {
          const taskId = decodeTaskId(id);
          const body = action === "retry" ? await readOptionalJsonBody(req) : undefined;
          const actor = actorOf(ctx);
          const record =
            action === "cancel" ? await deps.tasks.cancel(taskId, actor) : action === "retry" ? await deps.tasks.retry(taskId, body, actor) : await deps.tasks.discard(taskId, actor);
          return [action === "discard" ? 200 : 202, { id: record.id, status: record.status } satisfies TaskAck];
        },
      }),
    ),
    ...(["retry", "discard"] as const).map(
      (action): Route => ({
        method: "POST",
        pattern: new RegExp(`^/api/dead-letters/${action}$`),
        handler: async (req, _url, _params, _res, ctx) => [202, await deps.bulk.run(action, await readJsonBody(req, MAX_BODY_BYTES), actorOf(ctx)) satisfies DeadLetterBulkAck],
      }),
    ),
    { method: "GET", pattern: /^\/api\/queue$/, handler: async () => [200, await deps.queueStats.read()] },
    { method: "GET", pattern: /^\/api\/queues$/, handler: async () => [200, await deps.queueStats.readAll()] },
    {
      method: "POST",
      pattern: /^\/api\/broadcasts$/,
      handler: async (req, _url, _params, _res, ctx) => {
        const broadcast = await deps.broadcasts.send(await readJsonBody(req, MAX_BODY_BYTES), "api");
        void deps.audit.record({ action: "broadcast.send", actor: ctx.principal!, target: broadcast.id, detail: `#${broadcast.channel}: ${broadcast.message}`, ip: ctx.ip, via: "http" });
        return [202, { id: broadcast.id }];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/broadcasts$/,
      handler: async (_req, url, _params, _res, ctx) => {
        const { limit, channels, after } = parseQuery(BroadcastListQuerySchema, url);
        // Paid for by the history entries read (a rare channel means reading much of it).
        const read = <T>(work: (meter: ScanMeter) => Promise<T>) => metered(ctx.cost, RECORDS_PER_TOKEN.broadcasts, (meter) => redisCall(() => work(meter)));
        if (after === undefined) return [200, { broadcasts: await read((meter) => deps.broadcastLog.recent(limit, channels, meter)) }];
        // Catch-up for outside consumers: what came after `after`, oldest first, and whether some left the history.
        const catchUp = await read((meter) => deps.broadcastLog.catchUp(after, channels, undefined, meter));
        return [200, { ...catchUp, broadcasts: catchUp.broadcasts.slice(0, limit) }];
      },
    },
    { method: "GET", pattern: /^\/api\/broadcasts\/channels$/, handler: async () => [200, { channels: await redisCall(() => deps.broadcastLog.channels()) }] },
    { method: "GET", pattern: /^\/api\/presence$/, handler: async () => [200, deps.presence.current()] },
  ];

  /** A retry may come with no body at all. */
  async function readOptionalJsonBody(req: IncomingMessage): Promise<unknown> {
    const length = req.headers["content-length"];
    if (length === "0" || (length === undefined && !req.headers["transfer-encoding"])) return {};
    return readJsonBody(req, MAX_BODY_BYTES);
  }

  return routes;
}
