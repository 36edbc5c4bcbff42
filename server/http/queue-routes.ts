// The queues' operator actions: `POST /api/queues/:queue/pause` and `/resume`, audited, for the queues Taskcast knows.
import type { QueuePauseAck } from "../../lib/contract";
import type { AuditLog } from "../audit/audit-log";
import { notFound } from "../errors";
import type { QueuePauses } from "../store/queue-pauses";
import { decodePathSegment, redisCall } from "./respond";
import type { Route } from "./router";

export interface QueueRoutesDeps {
  pauses: Pick<QueuePauses, "pause" | "resume">;
  /** The queues `GET /api/queues` lists: TASK_QUEUE and those outside workers announced. */
  knownQueues: () => Promise<string[]>;
  audit: AuditLog;
}

export function queueRoutes(deps: QueueRoutesDeps): Route[] {
  return (["pause", "resume"] as const).map(
    (action): Route => ({
      method: "POST",
      pattern: new RegExp(`^/api/queues/([^/]+)/${action}$`),
      handler: async (_req, _url, [raw], _res, ctx) => {
        const queue = decodePathSegment(raw, "queue name");
        const known = await redisCall(() => deps.knownQueues());
        if (!known.includes(queue)) throw notFound(`No queue "${queue.slice(0, 200)}": Taskcast knows ${known.length > 10 ? `${known.length} queues, among them ` : ""}${known.slice(0, 10).map((q) => `"${q}"`).join(", ")} (GET /api/queues lists them).`);
        const actor = ctx.principal!;
        const changed = await redisCall(() => (action === "pause" ? deps.pauses.pause(queue, actor.name) : deps.pauses.resume(queue)));
        const detail = changed ? (action === "pause" ? "paused: its workers take no new tasks" : "resumed") : `already ${action === "pause" ? "paused" : "running"}; nothing changed`;
        void deps.audit.record({ action: action === "pause" ? "queue.pause" : "queue.resume", actor, target: queue, detail, ip: ctx.ip, via: "http" });
        return [200, { queue, paused: action === "pause", changed } satisfies QueuePauseAck];
      },
    }),
  );
}
