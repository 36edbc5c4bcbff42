// The JSON API and /healthz: routes over the web node's services; everything else goes to Next.js.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { canOperate } from "../../lib/auth";
import type { AuditLog } from "../audit/audit-log";
import { BroadcastListQuerySchema, liveCopy, ListQuerySchema, MAX_BODY_BYTES, TaskListQuerySchema, type ApiErrorBody, type Health, type Presence, type TaskAck } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import type { BroadcastService } from "../broadcast/broadcast-service";
import type { BroadcastLog } from "../broadcast/broadcast-log";
import { AppError, invalidInput, messageOf, notFound, unavailable } from "../errors";
import type { Logger } from "../logger";
import type { QueueStatsReader } from "../queue/stats";
import type { TaskStore } from "../store/task-store";
import { taskTypeInfo } from "../tasks/registry";
import type { TaskService } from "../tasks/task-service";
import { readJsonBody } from "./body";
import type { RequestContext } from "./request-guard";

export interface ApiDeps {
  tasks: TaskService;
  store: TaskStore;
  broadcasts: BroadcastService;
  broadcastLog: BroadcastLog;
  queueStats: QueueStatsReader;
  health: () => Promise<Health>;
  presence: () => Presence;
  audit: AuditLog;
  log: Logger;
}

export type Handler = (req: IncomingMessage, url: URL, params: string[], res: ServerResponse, ctx: RequestContext) => Promise<[number, unknown]>;
/**
 * One API route; feature modules export arrays of these and the web node passes them to createApi.
 * `access` defaults to `viewer` for GET (any signed-in user or token) and `operator` for everything else.
 */
export type Route = { method: string; pattern: RegExp; handler: Handler; access?: "public" | "viewer" | "operator" };

export function createApi(deps: ApiDeps, extraRoutes: readonly Route[] = []) {
  const routes: Route[] = [
    ...extraRoutes,
    {
      method: "GET",
      pattern: /^\/healthz$/,
      access: "public",
      handler: async () => {
        const health = await deps.health();
        return [health.status === "ok" ? 200 : 503, health];
      },
    },
    { method: "GET", pattern: /^\/api\/task-types$/, handler: async () => [200, { types: taskTypeInfo() }] },
    {
      method: "POST",
      pattern: /^\/api\/tasks$/,
      handler: async (req, _url, _params, res, ctx) => {
        const header = req.headers["idempotency-key"];
        const idempotencyKey = Array.isArray(header) ? header[0] : header;
        const { record, replayed } = await deps.tasks.submit(await readJsonBody(req, MAX_BODY_BYTES), { idempotencyKey });
        if (replayed) res.setHeader("Idempotent-Replayed", "true");
        // A person's submission is audited; services' (tokens, the loopback API) are the queue's ordinary traffic.
        if (!replayed && ctx.principal?.kind === "user") {
          void deps.audit.record({ action: "task.submit", actor: ctx.principal, target: record.id, detail: `type ${record.type}, priority ${record.priority}`, ip: ctx.ip, via: "http" });
        }
        return [replayed ? 200 : 202, { id: record.id, status: record.status } satisfies TaskAck];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/tasks$/,
      handler: async (_req, url) => {
        const query = parseQuery(TaskListQuerySchema, url);
        return [200, { tasks: (await redisCall(() => deps.store.list(query))).map(liveCopy) }];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/tasks\/([^/]+)$/,
      handler: async (_req, _url, [id]) => {
        const record = await redisCall(() => deps.store.get(decodeURIComponent(id)));
        if (!record) throw notFound(`No task with id "${decodeURIComponent(id)}".`);
        return [200, record];
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/dead-letters$/,
      handler: async (_req, url) => {
        const { limit } = parseQuery(ListQuerySchema, url);
        return [200, { tasks: (await redisCall(() => deps.store.deadLetters(limit))).map(liveCopy) }];
      },
    },
    ...(["cancel", "retry", "discard"] as const).map(
      (action): Route => ({
        method: "POST",
        pattern: new RegExp(`^/api/tasks/([^/]+)/${action}$`),
        handler: async (req, _url, [id], _res, ctx) => {
          const taskId = decodeURIComponent(id);
          const body = action === "retry" ? await readOptionalJsonBody(req) : undefined;
          const record =
            action === "cancel" ? await deps.tasks.cancel(taskId) : action === "retry" ? await deps.tasks.retry(taskId, body) : await deps.tasks.discard(taskId);
          const edited = action === "retry" && typeof body === "object" && body !== null && "payload" in body;
          void deps.audit.record({ action: `task.${action}`, actor: ctx.principal!, target: record.id, detail: `type ${record.type}${edited ? ", payload edited" : ""}`, ip: ctx.ip, via: "http" });
          return [action === "discard" ? 200 : 202, { id: record.id, status: record.status } satisfies TaskAck];
        },
      }),
    ),
    { method: "GET", pattern: /^\/api\/queue$/, handler: async () => [200, await deps.queueStats.read()] },
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
      handler: async (_req, url) => {
        const { limit, channels, after } = parseQuery(BroadcastListQuerySchema, url);
        if (after === undefined) return [200, { broadcasts: await redisCall(() => deps.broadcastLog.recent(limit, channels)) }];
        // Catch-up for outside consumers: what came after `after`, oldest first, and whether some left the history.
        const catchUp = await redisCall(() => deps.broadcastLog.catchUp(after, channels));
        return [200, { ...catchUp, broadcasts: catchUp.broadcasts.slice(0, limit) }];
      },
    },
    { method: "GET", pattern: /^\/api\/broadcasts\/channels$/, handler: async () => [200, { channels: await redisCall(() => deps.broadcastLog.channels()) }] },
    { method: "GET", pattern: /^\/api\/presence$/, handler: async () => [200, deps.presence()] },
  ];

  /** Handles the request if it is ours (/api/*, /healthz) and returns true; false lets Next.js have it. */
  /** A retry may come with no body at all. */
  async function readOptionalJsonBody(req: IncomingMessage): Promise<unknown> {
    const length = req.headers["content-length"];
    if (length === "0" || (length === undefined && !req.headers["transfer-encoding"])) return {};
    return readJsonBody(req, MAX_BODY_BYTES);
  }

  return async function handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== "/healthz" && !url.pathname.startsWith("/api/")) return false;
    try {
      const matching = routes.filter((r) => r.pattern.test(url.pathname));
      if (matching.length === 0) throw notFound(`No API route ${url.pathname}. See the README for the API.`);
      const route = matching.find((r) => r.method === req.method);
      if (!route) {
        res.setHeader("Allow", matching.map((r) => r.method).join(", "));
        throw new AppError(405, "method_not_allowed", `${req.method} is not allowed on ${url.pathname}; use ${matching.map((r) => r.method).join(" or ")}.`);
      }
      const access = route.access ?? (route.method === "GET" ? "viewer" : "operator");
      if (access !== "public" && !ctx.principal) throw new AppError(401, "unauthenticated", "Sign in first, or send Authorization: Bearer <token>.");
      if (access === "operator" && !canOperate(ctx.principal)) {
        throw new AppError(403, "forbidden", `${ctx.principal!.name} has the ${ctx.principal!.role} role, which sees everything but changes nothing; ${req.method} ${url.pathname} needs the operator role.`);
      }
      const params = route.pattern.exec(url.pathname)!.slice(1);
      const [status, body] = await route.handler(req, url, params, res, ctx);
      sendJson(res, status, body);
    } catch (err) {
      if (err instanceof AppError) {
        if (err.status === 413) res.setHeader("Connection", "close");
        sendJson(res, err.status, { error: err.message, code: err.code } satisfies ApiErrorBody);
      } else {
        deps.log.error({ err, path: url.pathname }, "API request failed");
        sendJson(res, 500, { error: "Internal error; the server log has the details.", code: "internal" } satisfies ApiErrorBody);
      }
    }
    return true;
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function parseQuery<S extends z.ZodType>(schema: S, url: URL): z.output<S> {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) throw invalidInput(`Invalid query: ${describeZodError(parsed.error)}.`);
  return parsed.data;
}

export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) throw err; // already a clear answer (a bad query, a missing task)
    throw unavailable(`Redis is not reachable (${messageOf(err)}); try again shortly.`);
  }
}
