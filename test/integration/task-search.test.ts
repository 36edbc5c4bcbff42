// GET /api/tasks/search against the real Redis: filters, id and text search, cursor paging, previews, bad queries.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isFinished, type TaskRecord, type TaskStatus } from "../../lib/contract";
import { PREVIEW_CHARS, type TaskSearchResult, type TaskSummary } from "../../lib/task-search";
import { redisKeys } from "../../server/redis/keys";
import { TaskStore } from "../../server/store/task-store";
import { api, startStack, type Stack } from "../helpers/stack";

const BASE = Date.UTC(2026, 0, 1);
const at = (i: number) => new Date(BASE + i * 1000).toISOString();

function make(id: string, i: number, fields: Partial<TaskRecord> = {}): TaskRecord {
  const status: TaskStatus = fields.status ?? "succeeded";
  return {
    id, type: "echo", payload: { n: i }, status, progress: 0, priority: 0, attempts: 1, attemptLog: [], createdAt: at(i), version: 0,
    ...(isFinished(status) ? { finishedAt: at(i + 1) } : {}),
    ...fields,
  };
}

describe("task search", () => {
  let stack: Stack;
  let store: TaskStore;
  const search = async (query: string) => {
    const res = await api(stack.nodes[0], `/api/tasks/search${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as TaskSearchResult;
  };
  /** Every page of a search, following nextCursor. */
  const allPages = async (query: string) => {
    const pages: TaskSummary[][] = [];
    let cursor: string | null = null;
    do {
      const page: TaskSearchResult = await search(`${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      pages.push(page.tasks);
      cursor = page.nextCursor;
    } while (cursor && pages.length < 100);
    return pages;
  };

  before(async () => {
    stack = await startStack({ workers: 0 });
    store = new TaskStore(stack.redis, redisKeys(stack.config.KEY_PREFIX), 10_000);
    // 300 echo records, every third one failed with an error, every fifth a sleep; all created in order.
    for (let i = 0; i < 300; i++) {
      const failed = i % 3 === 0;
      await store.create(
        make(`rec-${String(i).padStart(3, "0")}`, i, {
          type: i % 5 === 0 ? "sleep" : "echo",
          status: failed ? "failed" : "succeeded",
          payload: { n: i, note: i === 123 ? "The Needle In The Haystack" : "hay" },
          ...(failed ? { error: `Boom number ${i}` } : { result: { echoed: i } }),
        }),
      );
    }
    // Three records created in the same millisecond: paging must neither skip nor repeat one of them.
    for (const id of ["tie-a", "tie-b", "tie-c"]) await store.create(make(id, 400, { type: "tie" }));
    await store.create(make("huge-1", 500, { type: "huge", payload: { blob: "x".repeat(1024 * 1024) }, result: { blob: "y".repeat(1024 * 1024) } }));
  });
  after(async () => {
    await stack.close();
  });

  test("without filters, pages of 50 come newest first and the cursor walks all 304 records once", async () => {
    const pages = await allPages("?limit=50");
    const ids = pages.flat().map((t) => t.id);
    assert.equal(pages[0].length, 50);
    assert.equal(ids.length, 304);
    assert.equal(new Set(ids).size, 304, "no record twice");
    assert.deepEqual(ids.slice(0, 5), ["huge-1", "tie-c", "tie-b", "tie-a", "rec-299"]);
    assert.equal(ids.at(-1), "rec-000");
    assert.equal(pages.length, 7, "six full pages and a last one of 4, with no empty page after it");
  });

  test("paging through many same-millisecond records with a small page skips and repeats none", async () => {
    const pages = await allPages("?type=tie&limit=1");
    assert.deepEqual(pages.flat().map((t) => t.id), ["tie-c", "tie-b", "tie-a"]);
  });

  test("filters by status and by type, and both at once", async () => {
    const failed = (await allPages("?status=failed&limit=200")).flat();
    assert.equal(failed.length, 100);
    assert.ok(failed.every((t) => t.status === "failed"));
    const sleeps = (await allPages("?type=sleep&limit=200")).flat();
    assert.equal(sleeps.length, 60);
    assert.ok(sleeps.every((t) => t.type === "sleep"));
    const failedSleeps = (await allPages("?status=failed&type=sleep&limit=200")).flat();
    assert.equal(failedSleeps.length, 20, "every 15th record");
    assert.deepEqual(failedSleeps.slice(0, 2).map((t) => t.id), ["rec-285", "rec-270"]);
  });

  test("q matches an id by prefix, and text in payload, result or error whatever its case", async () => {
    assert.deepEqual((await search("?q=rec-12")).tasks.map((t) => t.id), Array.from({ length: 10 }, (_, i) => `rec-12${9 - i}`));
    assert.deepEqual((await search("?q=rec-042")).tasks.map((t) => t.id), ["rec-042"]);
    assert.deepEqual((await search("?q=needle%20in%20THE")).tasks.map((t) => t.id), ["rec-123"], "payload text");
    assert.deepEqual((await search("?q=boom%20NUMBER%2099")).tasks.map((t) => t.id), ["rec-099"], "error text");
    assert.deepEqual((await search(`?q=${encodeURIComponent('"echoed":298')}`)).tasks.map((t) => t.id), ["rec-298"], "result text");
    assert.deepEqual((await search("?q=needle&status=succeeded")).tasks, [], "and the filters still apply");
    assert.deepEqual(await search("?q=nothing-matches-this"), { tasks: [], nextCursor: null });
  });

  test("a record with a 1 MB payload and result comes back as short previews only", async () => {
    const res = await fetch(`${stack.nodes[0].url}/api/tasks/search?type=huge`);
    const text = await res.text();
    assert.ok(text.length < 2000, `the answer is ${text.length} characters`);
    const [huge] = (JSON.parse(text) as TaskSearchResult).tasks;
    assert.equal(huge.id, "huge-1");
    assert.equal(huge.payloadPreview, `{"blob":"${"x".repeat(PREVIEW_CHARS - 9)}…`);
    assert.equal(huge.outcomePreview.length, PREVIEW_CHARS + 1);
    assert.ok(!("payload" in huge) && !("result" in huge) && !("attemptLog" in huge));
    // The text is still searchable, and the record itself is served whole.
    assert.equal((await search("?q=yyyyyyyy&type=huge")).tasks.length, 1);
    const whole = await api(stack.nodes[0], "/api/tasks/huge-1");
    assert.equal((whole.body as TaskRecord & { payload: { blob: string } }).payload.blob.length, 1024 * 1024);
  });

  test("a search that matches little stops after its scan limit and continues from its cursor", async () => {
    const first = await store.search({ q: "needle", limit: 50, scanLimit: 100 });
    assert.deepEqual(first.records, [], "the match is further back than 100 records");
    assert.ok(first.nextCursor);
    const second = await store.search({ q: "needle", limit: 50, scanLimit: 100, cursor: first.nextCursor! });
    assert.deepEqual(second.records.map((r) => r.id), ["rec-123"]);
    const rest = await store.search({ q: "needle", limit: 50, scanLimit: 1000, cursor: second.nextCursor! });
    assert.deepEqual(rest, { records: [], nextCursor: null });
  });

  test("a bad query is refused with 400 and says what is wrong", async () => {
    for (const [query, words] of [
      ["?status=sleeping", /status/],
      ["?limit=0", /limit/],
      ["?limit=1000", /limit/],
      ["?cursor=nonsense", /cursor/],
    ] as const) {
      const res = await api(stack.nodes[0], `/api/tasks/search${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.code, "invalid_input");
      assert.match(res.body.error, /^Invalid query: /);
      assert.match(res.body.error, words);
    }
    // Empty fields, as a form sends them, mean "any".
    assert.equal((await search("?status=&type=&q=&cursor=")).tasks.length, 50);
  });
});
