// The task search contract: `GET /api/tasks/search`'s query and answer, and the pure matching and preview
// functions the store and the tasks page both use, so a live update is judged exactly as the server would.
import { z } from "./zod";
import { TaskStatusSchema, type TaskRecord, type TaskStatus } from "./contract";

/** Longest payload, result or error preview in a summary, in characters (an ellipsis follows when cut). */
export const PREVIEW_CHARS = 120;
/** @defaultValue 50 rows a page */
export const SEARCH_PAGE_SIZE = 50;
export const MAX_SEARCH_PAGE_SIZE = 200;

// An empty field (`?status=`) means "any", as a form with nothing chosen sends it.
const optional = <S extends z.ZodType>(schema: S) => z.preprocess((v) => (v === "" ? undefined : v), schema.optional());

/**
 * `GET /api/tasks/search?status=&type=&schedule=&q=&cursor=&limit=`.
 * `q` matches an id by prefix (or whole), or text inside payload, result or error (case-insensitive substring).
 * `cursor` is the `nextCursor` of the previous page: `<createdAt in ms>:<id>` of the last record looked at.
 */
export const TaskSearchQuerySchema = z.object({
  status: optional(TaskStatusSchema),
  type: optional(z.string().max(200, "type must be at most 200 characters")),
  q: optional(z.string().max(200, "q must be at most 200 characters")),
  /** Only the tasks this recurring schedule queued. */
  schedule: optional(z.string().max(200, "schedule must be at most 200 characters")),
  cursor: optional(z.string().regex(/^-?\d{1,16}:.{1,400}$/s, "cursor must be the nextCursor of a previous answer")),
  /** @defaultValue 50 */
  limit: z.coerce.number().int().min(1).max(MAX_SEARCH_PAGE_SIZE, `limit must be from 1 to ${MAX_SEARCH_PAGE_SIZE}`).default(SEARCH_PAGE_SIZE),
});
export type TaskSearchQuery = z.output<typeof TaskSearchQuerySchema>;
export type TaskSearchFilters = Pick<TaskSearchQuery, "status" | "type" | "q" | "schedule">;

/** One row of the tasks table: a record without its payload, result and error, which come as short previews. */
export interface TaskSummary {
  id: string;
  type: string;
  status: TaskStatus;
  progress: number;
  priority: number;
  attempts: number;
  maxAttempts?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  cancelRequested?: boolean;
  discardedAt?: string;
  /** The recurring schedule that queued the task. */
  schedule?: string;
  scheduleTick?: string;
  /** A delayed task's time to be queued. */
  runAt?: string;
  version: number;
  /** The payload as one line of JSON, at most PREVIEW_CHARS characters and an ellipsis. */
  payloadPreview: string;
  /** The error (if any), else the result as JSON, cut the same way; empty when there is neither. */
  outcomePreview: string;
}

/** Reply of `GET /api/tasks/search`: newest first; `nextCursor` is null once the history is exhausted. */
export interface TaskSearchResult {
  tasks: TaskSummary[];
  nextCursor: string | null;
}

/** One line, at most `max` characters plus an ellipsis. */
export function clipText(text: string, max = PREVIEW_CHARS): string {
  // Only the head is looked at, so a megabyte of text costs no more than a short one.
  const line = text.slice(0, max * 2).replace(/\s+/g, " ").trim();
  return line.length > max || text.length > max * 2 ? `${line.slice(0, max)}…` : line;
}

const jsonText = (value: unknown): string => (value === undefined ? "" : (JSON.stringify(value) ?? ""));

export function summarize(record: TaskRecord): TaskSummary {
  const { payload, result, error, attemptLog: _log, nextAttemptAt: _next, worker: _worker, retriedAt: _retried, ...rest } = record;
  return {
    ...rest,
    payloadPreview: record.payloadBytes ? `(${record.payloadBytes} bytes: open the task to see it)` : clipText(jsonText(payload)),
    outcomePreview: clipText(error ?? (record.resultBytes ? `(${record.resultBytes} bytes: open the task to see it)` : jsonText(result))),
  };
}

/** Whether a record passes the filters; `q` is matched against the id's start and the text of payload, result and error. */
export function matchesSearch(record: TaskRecord, filters: TaskSearchFilters): boolean {
  if (filters.status && record.status !== filters.status) return false;
  if (filters.type && record.type !== filters.type) return false;
  if (filters.schedule && record.schedule !== filters.schedule) return false;
  const q = filters.q?.trim().toLowerCase();
  if (!q) return true;
  if (record.id.toLowerCase().startsWith(q)) return true;
  return [jsonText(record.payload), jsonText(record.result), record.error ?? ""].some((text) => text.toLowerCase().includes(q));
}

/** The cursor that continues a search after this record: its index score (createdAt in ms) and id. */
export function cursorOf(task: { id: string; createdAt: string }): string {
  return `${Date.parse(task.createdAt)}:${task.id}`;
}

export function parseCursor(cursor: string): { score: number; id: string } {
  const colon = cursor.indexOf(":");
  return { score: Number(cursor.slice(0, colon)), id: cursor.slice(colon + 1) };
}

/** Search order: newest first, ties by id descending, as Redis's ZREVRANGE orders equal scores. */
export function compareNewestFirst(a: { id: string; createdAt: string }, b: { id: string; createdAt: string }): number {
  return Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Where a record sits in search order, as a cursor names it. */
const positionOf = (task: { id: string; createdAt: string }) => ({ score: Date.parse(task.createdAt), id: task.id });
const comparePositions = (a: { score: number; id: string }, b: { score: number; id: string }) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/**
 * A page of search results after live `task:update` records: a shown row gets its newer version (or goes when it no
 * longer passes the filters), and a record that now passes them joins if it falls between the cursor the page was
 * loaded from (`after`) and the page's last row. A page that grows past `limit` hands its oldest rows to the next
 * page by moving `nextCursor` back. Returns the same object when nothing changed, so React skips the render.
 */
export function applyTaskUpdates(page: TaskSearchResult, records: readonly TaskRecord[], filters: TaskSearchFilters, options: { after?: string; limit: number }): TaskSearchResult {
  const rows = new Map(page.tasks.map((t) => [t.id, t]));
  const oldest = page.tasks.at(-1);
  const start = options.after ? parseCursor(options.after) : undefined;
  let changed = false;
  for (const record of records) {
    const known = rows.get(record.id);
    if (known && known.version >= record.version) continue;
    if (!matchesSearch(record, filters)) {
      if (known) changed = rows.delete(record.id);
      continue;
    }
    const position = positionOf(record);
    const inRange = (!start || comparePositions(start, position) < 0) && (!page.nextCursor || !oldest || comparePositions(position, positionOf(oldest)) <= 0);
    if (known || inRange) {
      rows.set(record.id, summarize(record));
      changed = true;
    }
  }
  if (!changed) return page;
  const tasks = [...rows.values()].sort(compareNewestFirst);
  if (tasks.length <= options.limit) return { tasks, nextCursor: page.nextCursor };
  const kept = tasks.slice(0, options.limit);
  return { tasks: kept, nextCursor: cursorOf(kept.at(-1)!) };
}
