import assert from "node:assert/strict";
import { test } from "node:test";
import type { TaskRecord } from "../../lib/contract";
import { applyTaskUpdates, clipText, cursorOf, matchesSearch, PREVIEW_CHARS, summarize, TaskSearchQuerySchema, type TaskSearchResult } from "../../lib/task-search";

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const rec = (id: string, s: number, fields: Partial<TaskRecord> = {}): TaskRecord => ({
  id, type: "echo", payload: { id }, status: "queued", progress: 0, priority: 0, attempts: 0, attemptLog: [], createdAt: at(s), version: 1, ...fields,
});
const page = (records: TaskRecord[], nextCursor: string | null = null): TaskSearchResult => ({ tasks: records.map(summarize), nextCursor });

test("a summary carries previews cut to PREVIEW_CHARS on one line, never the payload itself", () => {
  const summary = summarize(rec("a", 1, { payload: { text: "line one\nline two ".repeat(10_000) }, status: "failed", error: "bad\n\nthing" }));
  assert.equal(summary.payloadPreview.length, PREVIEW_CHARS + 1);
  assert.ok(summary.payloadPreview.endsWith("…"));
  assert.equal(summary.outcomePreview, "bad thing");
  assert.ok(!("payload" in summary) && !("attemptLog" in summary));
  assert.equal(clipText("short"), "short");
});

test("matching: id prefix, or case-insensitive text in payload, result or error, within status and type", () => {
  const r = rec("abc-123", 1, { status: "succeeded", payload: { city: "Zürich" }, result: { Total: 42 } });
  assert.ok(matchesSearch(r, { q: "ABC-1" }));
  assert.ok(!matchesSearch(r, { q: "123" }), "the id matches by its start only");
  assert.ok(matchesSearch(r, { q: "zürICH" }));
  assert.ok(matchesSearch(r, { q: '"total":42' }));
  assert.ok(!matchesSearch(r, { q: "zürich", status: "failed" }));
  assert.ok(!matchesSearch(r, { type: "sleep" }));
  assert.ok(matchesSearch(r, {}));
});

test("the query treats empty fields as absent and refuses an unknown status", () => {
  const parsed = TaskSearchQuerySchema.parse({ status: "", q: "", limit: "20" });
  assert.equal(parsed.status, undefined);
  assert.equal(parsed.q, undefined);
  assert.equal(parsed.limit, 20);
  assert.equal(TaskSearchQuerySchema.safeParse({ status: "sleeping" }).success, false);
});

test("live updates: rows change in place, leave when they stop matching, and new ones join the first page in order", () => {
  const shown = page([rec("c", 3), rec("b", 2)], cursorOf(rec("b", 2)));
  const filters = { status: "queued" as const };
  const next = applyTaskUpdates(shown, [rec("d", 4), rec("c", 3, { status: "running", version: 2 }), rec("a", 1)], filters, { limit: 50 });
  assert.deepEqual(next.tasks.map((t) => t.id), ["d", "b"], "d joins on top, c no longer queued, a is beyond the page");
  assert.equal(applyTaskUpdates(next, [rec("d", 4)], filters, { limit: 50 }), next, "an old version changes nothing");
});

test("live updates on a later page only take records between its cursor and its last row, and a full page passes its oldest on", () => {
  const later = page([rec("b", 2), rec("a", 1)]);
  const after = cursorOf(rec("c", 3));
  assert.deepEqual(applyTaskUpdates(later, [rec("z", 9)], {}, { after, limit: 2 }).tasks.map((t) => t.id), ["b", "a"]);
  const first = page([rec("c", 3), rec("b", 2)], cursorOf(rec("b", 2)));
  const grown = applyTaskUpdates(first, [rec("d", 4)], {}, { limit: 2 });
  assert.deepEqual(grown.tasks.map((t) => t.id), ["d", "c"]);
  assert.equal(grown.nextCursor, cursorOf(rec("c", 3)), "b now starts the next page");
});
