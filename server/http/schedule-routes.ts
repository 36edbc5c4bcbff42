// The recurring schedules' API: `GET/POST /api/schedules`, `GET/PUT/DELETE /api/schedules/:name` (writes: operators).
import { MAX_BODY_BYTES } from "../../lib/contract";
import type { ScheduleService } from "../lifecycle/schedule-service";
import { readJsonBody } from "./body";
import { actorOf } from "./request-guard";
import { decodePathSegment } from "./respond";
import type { Route } from "./router";

const decodeName = (raw: string) => decodePathSegment(raw, "schedule name");

export function scheduleRoutes(deps: { schedules: ScheduleService }): Route[] {
  const one = /^\/api\/schedules\/([^/]+)$/;
  return [
    { method: "GET", pattern: /^\/api\/schedules$/, handler: async () => [200, await deps.schedules.list()] },
    { method: "POST", pattern: /^\/api\/schedules$/, handler: async (req, _url, _params, _res, ctx) => [201, await deps.schedules.create(await readJsonBody(req, MAX_BODY_BYTES), actorOf(ctx))] },
    { method: "GET", pattern: one, handler: async (_req, _url, [name]) => [200, await deps.schedules.get(decodeName(name))] },
    { method: "PUT", pattern: one, handler: async (req, _url, [name], _res, ctx) => [200, await deps.schedules.update(decodeName(name), await readJsonBody(req, MAX_BODY_BYTES), actorOf(ctx))] },
    {
      method: "DELETE",
      pattern: one,
      handler: async (_req, _url, [name], _res, ctx) => {
        const decoded = decodeName(name);
        await deps.schedules.delete(decoded, actorOf(ctx));
        return [200, { name: decoded, deleted: true }];
      },
    },
  ];
}
