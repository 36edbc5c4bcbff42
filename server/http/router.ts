// The API's router: matches a route by path and method, checks its access level, and answers errors as JSON.
import type { IncomingMessage, ServerResponse } from "node:http";
import { canOperate } from "../../lib/auth";
import { AppError, notFound } from "../errors";
import { logClientError, type Logger } from "../logger";
import type { RequestContext } from "./request-guard";
import type { ApiErrorBody } from "../../lib/contract";
import { sendError, sendJson } from "./respond";

export type Handler = (req: IncomingMessage, url: URL, params: string[], res: ServerResponse, ctx: RequestContext) => Promise<[number, unknown]>;
/**
 * One API route; feature modules export arrays of these and the web node passes them to createRouter.
 * `access` defaults to `viewer` for GET (any signed-in user or token) and `operator` for everything else.
 */
export type Route = { method: string; pattern: RegExp; handler: Handler; access?: "public" | "viewer" | "operator" };

/** Handles a request if it is the API's (/api/*, /healthz) and resolves true; false lets the pages have it. */
export function createRouter(routes: readonly Route[], log: Logger) {
  return async function handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== "/healthz" && !url.pathname.startsWith("/api/")) return false;
    try {
      const matching = routes.filter((r) => r.pattern.test(url.pathname));
      if (matching.length === 0) throw notFound(`No API route ${url.pathname}. See docs/api.md for the API.`);
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
        logClientError(log, err, { path: url.pathname });
        sendError(res, err);
      } else {
        log.error({ err, path: url.pathname }, "API request failed");
        sendJson(res, 500, { error: "Internal error; the server log has the details.", code: "internal" } satisfies ApiErrorBody);
      }
    }
    return true;
  };
}
