// The tasks page's API: `GET /api/tasks/search`, task summaries (previews, never whole payloads) page by page.
import { summarize, TaskSearchQuerySchema, type TaskSearchResult } from "../../lib/task-search";
import { budgeted, RECORDS_PER_TOKEN } from "../access/scan-cost";
import { SEARCH_SCAN_LIMIT, type TaskStore } from "../store/task-store";
import { parseQuery, redisCall } from "./respond";
import type { Route } from "./router";

export function taskRoutes(deps: { store: TaskStore }): Route[] {
  return [
    {
      method: "GET",
      pattern: /^\/api\/tasks\/search$/,
      handler: async (_req, url, _params, _res, ctx) => {
        const query = parseQuery(TaskSearchQuerySchema, url);
        // A search that matches little reads many records: it reads what the client's rate limit affords, and pays for it.
        const { records, nextCursor } = await budgeted(ctx.cost, RECORDS_PER_TOKEN.tasks, SEARCH_SCAN_LIMIT, (scanLimit, meter) => redisCall(() => deps.store.search({ ...query, scanLimit, meter })));
        return [200, { tasks: records.map(summarize), nextCursor } satisfies TaskSearchResult];
      },
    },
  ];
}
