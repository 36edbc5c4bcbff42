// The tasks page's API: `GET /api/tasks/search`, task summaries (previews, never whole payloads) page by page.
import { summarize, TaskSearchQuerySchema, type TaskSearchResult } from "../../lib/task-search";
import type { TaskStore } from "../store/task-store";
import { parseQuery, redisCall } from "./respond";
import type { Route } from "./router";

export function taskRoutes(deps: { store: TaskStore }): Route[] {
  return [
    {
      method: "GET",
      pattern: /^\/api\/tasks\/search$/,
      handler: async (_req, url) => {
        const query = parseQuery(TaskSearchQuerySchema, url);
        const { records, nextCursor } = await redisCall(() => deps.store.search(query));
        return [200, { tasks: records.map(summarize), nextCursor } satisfies TaskSearchResult];
      },
    },
  ];
}
