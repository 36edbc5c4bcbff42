// Bulk retry and discard of dead letters against the real RabbitMQ and Redis: bad inputs, ids of which some are not
// dead letters (skipped with the reason), and {"all": true} over a few hundred dead letters in batches, with progress
// events to the tabs and a 409 for a second bulk action meanwhile. (10,000 dead letters would take minutes to make
// in a test; the batching that makes them safe is the same at 300 with DEAD_LETTER_BULK_BATCH=100.)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { AuditEntry } from "../../lib/auth";
import type { DeadLetterBulkProgress, QueueStats, TaskRecord } from "../../lib/contract";
import { authEnv, bearer, TOKENS } from "../helpers/auth";
import { api, eventually, startStack, type Stack } from "../helpers/stack";

const operator = bearer(TOKENS.ci);
const viewer = bearer(TOKENS.grafana);

describe("bulk actions on dead letters", () => {
  let stack: Stack;
  const post = (path: string, body: unknown, headers: Record<string, string> = operator) =>
    api(stack.nodes[0], path, { method: "POST", headers: { ...headers, "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const get = (path: string) => api(stack.nodes[0], path, { headers: viewer });
  const task = async (id: string) => (await get(`/api/tasks/${id}`)).body as TaskRecord;
  const deadInQueue = async () => ((await get("/api/queue")).body as QueueStats).dead;
  const deadListed = () => stack.redis.zcard(`${stack.config.KEY_PREFIX}:tasks:dead-letters`);
  /** Submits `n` flaky tasks that fail all 4 attempts (about 3 s) and waits until each is a dead letter with its message in the queue. */
  const makeDead = async (n: number): Promise<string[]> => {
    const already = await deadListed();
    const res = await post("/api/tasks/batch", { tasks: Array.from({ length: n }, () => ({ type: "flaky", payload: { failures: 10 } })) });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const ids = (res.body.tasks as Array<{ id: string }>).map((t) => t.id);
    await eventually(async () => ((await deadListed()) === already + n && (await deadInQueue()) === already + n ? true : undefined), `${n} dead letters`, 90_000, 200);
    return ids;
  };
  const audits = async (action: string) => ((await get(`/api/audit?action=${action}`)).body.entries as AuditEntry[]);

  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 1, env: { ...authEnv(), DEAD_LETTER_BULK_BATCH: "100", WORKER_CONCURRENCY: "32" } });
  });
  after(() => stack.close());

  test("bad requests: viewer 403, no sign-in 401, bad bodies 400 with what to send, GET 405", async () => {
    for (const action of ["retry", "discard"]) {
      const path = `/api/dead-letters/${action}`;
      const refused = await post(path, { all: true }, viewer);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.match(refused.body.error, /operator role/);
      assert.equal((await post(path, { all: true }, {})).status, 401);
      for (const body of [{}, { ids: [] }, { ids: Array.from({ length: 1001 }, (_, i) => `t${i}`) }, { all: false }, { ids: ["a"], all: true }, { ids: "a" }, { ids: [""] }, [], "{ids"]) {
        const bad = await post(path, body);
        assert.equal(bad.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(bad.body)}`);
        if (typeof body !== "string") assert.match(bad.body.error, /Send \{"ids": \[/);
      }
      assert.equal((await get(path)).status, 405);
    }
    assert.equal((await audits("dead-letters.retry")).length, 0, "nothing refused is audited");
  });

  test("ids of which some are not dead letters: those are skipped with the reason, the others move as single actions do", async () => {
    const [a, b, c] = await makeDead(3);
    const echo = (await post("/api/tasks", { type: "echo", payload: {} })).body.id as string;
    await eventually(async () => ((await task(echo)).status === "succeeded" ? true : undefined), "the echo task");
    const depth = await deadInQueue();

    const retried = await post("/api/dead-letters/retry", { ids: [a, b, echo, "no-such-task", a] });
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    assert.equal(retried.body.count, 2);
    assert.deepEqual(
      [...retried.body.skipped].sort((x: { id: string }, y: { id: string }) => x.id.localeCompare(y.id)),
      [
        { id: echo, reason: "not a dead letter: it is succeeded" },
        { id: "no-such-task", reason: "no such task" },
      ].sort((x, y) => x.id.localeCompare(y.id)),
    );
    assert.equal(await deadInQueue(), depth - 2, "both messages left the dead-letter queue");
    for (const id of [a, b]) {
      const record = await task(id);
      assert.ok(record.retriedAt, "marked retried as a single retry marks it");
      assert.notEqual(record.status, "dead");
    }

    const discarded = await post("/api/dead-letters/discard", { ids: [c, echo] });
    assert.equal(discarded.status, 202, JSON.stringify(discarded.body));
    assert.equal(discarded.body.count, 1);
    assert.equal(discarded.body.skipped.length, 1);
    assert.equal(discarded.body.skipped[0].id, echo);
    assert.match(discarded.body.skipped[0].reason, /only dead tasks can be discarded/);
    assert.ok((await task(c)).discardedAt);
    assert.equal(await deadInQueue(), depth - 3);

    const [retryAudit] = await audits("dead-letters.retry");
    assert.match(retryAudit.detail ?? "", /^retried 2 \(5 ids, 2 skipped\)$/);
    assert.equal(retryAudit.actor.name, "ci");
    const discardAudits = await audits("dead-letters.discard");
    assert.equal(discardAudits.length, 1, "one audit entry per action");
    assert.match(discardAudits[0].detail ?? "", /^discarded 1 /);
    // a and b die again (flaky fails every attempt): leave them so for the next test.
    await eventually(async () => ((await task(a)).status === "dead" && (await task(b)).status === "dead" ? true : undefined), "a and b dead again", 30_000, 200);
  });

  test("all=true over 300 dead letters: batches of 100 with progress to the tabs on every node, a second bulk action meanwhile is 409 on another node", async () => {
    await makeDead(298);
    const total = await deadListed();
    assert.equal(total, 300);
    // A tab on the other node sees the progress too.
    const socket = await stack.connectSocket(stack.nodes[1], { auth: { token: TOKENS.ci } });
    const progress: DeadLetterBulkProgress[] = [];
    const finished = new Promise<void>((resolve) =>
      socket.on("deadLetters:progress", (p) => {
        progress.push(p);
        if (p.finished) resolve();
      }),
    );
    const started = new Promise<void>((resolve) => socket.once("deadLetters:progress", () => resolve()));

    const first = post("/api/dead-letters/retry", { all: true });
    await started;
    // On the other web node: the lock is in Redis.
    const second = await api(stack.nodes[1], "/api/dead-letters/discard", { method: "POST", headers: { ...operator, "Content-Type": "application/json" }, body: JSON.stringify({ all: true }) });
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.match(second.body.error, /already running/);
    const res = await first;
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body, { count: 300, skipped: [] });
    await finished;
    assert.deepEqual(
      progress.map((p) => [p.done, p.total, p.count, p.finished]),
      [
        [0, 300, 0, false],
        [100, 300, 100, false],
        [200, 300, 200, false],
        [300, 300, 300, true],
      ],
    );
    assert.ok(progress.every((p) => p.action === "retry" && p.by === "ci"));
    assert.equal(await deadListed(), 0);
    assert.equal(await deadInQueue(), 0);
    const [audit] = await audits("dead-letters.retry");
    assert.equal(audit.detail, "retried 300 (all dead letters)");

    // They all die again; discard all of them, and the lock is free again.
    await eventually(async () => ((await deadListed()) === 300 && (await deadInQueue()) === 300 ? true : undefined), "300 dead again", 90_000, 200);
    const discarded = await post("/api/dead-letters/discard", { all: true });
    assert.equal(discarded.status, 202, JSON.stringify(discarded.body));
    assert.deepEqual(discarded.body, { count: 300, skipped: [] });
    assert.equal(await deadListed(), 0);
    assert.equal(await deadInQueue(), 0);
  });
});
