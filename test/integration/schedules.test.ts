// Recurring schedules against the real RabbitMQ and Redis on two web nodes: every endpoint and its bad inputs, and
// the ticks of per-second schedules: one task per tick whatever the number of nodes, none skipped through
// restarts, missed ticks caught up once (or skipped with catchUp: false), none while disabled or once deleted.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import type { AuditEntry } from "../../lib/auth";
import type { TaskRecord } from "../../lib/contract";
import { MAX_SCHEDULES, type ScheduleList, type ScheduleView } from "../../lib/schedules";
import { TaskSubmission } from "../../server/lifecycle/submission";
import { redisKeys } from "../../server/redis/keys";
import { IdempotencyKeys } from "../../server/store/idempotency";
import { ScheduleStore } from "../../server/store/schedules";
import type { WebNode } from "../../server/web-node";
import { authEnv, bearer, TOKENS } from "../helpers/auth";
import { api, eventually, nextEvent, startStack, type Stack } from "../helpers/stack";

const operator = bearer(TOKENS.ci);
const viewer = bearer(TOKENS.grafana);
const SECOND = 1000;

describe("recurring schedules", () => {
  let stack: Stack;
  let keys: ReturnType<typeof redisKeys>;
  const send = (node: WebNode, method: string, path: string, body?: unknown, headers: Record<string, string> = operator) =>
    api(node, path, { method, headers: { ...headers, "Content-Type": "application/json" }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const create = (body: Record<string, unknown>, node = stack.nodes[0]) => send(node, "POST", "/api/schedules", body);
  const node = () => stack.nodes[stack.nodes.length - 1];
  /** The tasks a schedule queued, by tick, oldest first. */
  const runsOf = async (name: string): Promise<TaskRecord[]> => {
    const res = await api(node(), "/api/tasks?limit=500", { headers: viewer });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return (res.body.tasks as TaskRecord[]).filter((t) => t.schedule === name).sort((a, b) => Date.parse(a.scheduleTick!) - Date.parse(b.scheduleTick!));
  };
  /** Ticks are whole seconds, each once, one after another with no gap. */
  const assertConsecutive = (runs: TaskRecord[], what: string) => {
    const ticks = runs.map((r) => Date.parse(r.scheduleTick!));
    assert.equal(new Set(ticks).size, ticks.length, `${what}: a tick ran twice: ${runs.map((r) => r.scheduleTick).join(", ")}`);
    for (const [i, tick] of ticks.entries()) {
      assert.equal(tick % SECOND, 0, `${what}: ticks fall on whole seconds`);
      if (i > 0) assert.equal(tick - ticks[i - 1], SECOND, `${what}: no tick missing between ${runs[i - 1].scheduleTick} and ${runs[i].scheduleTick}`);
    }
  };
  const untilRuns = (name: string, count: number, timeoutMs = 20_000) =>
    eventually(async () => {
      const runs = await runsOf(name);
      return runs.length >= count ? runs : undefined;
    }, `${count} runs of ${name}`, timeoutMs, 200);
  const disable = async (name: string) => assert.equal((await send(node(), "PUT", `/api/schedules/${name}`, { enabled: false })).status, 200);

  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 0, env: authEnv() });
    keys = redisKeys(stack.config.KEY_PREFIX);
  });

  after(async () => {
    await stack.close();
  });

  test("create, list, read, change and delete a schedule; each write audited and pushed to tabs on every node", async () => {
    const [a, b] = stack.nodes;
    const socket = await stack.connectSocket(b, { auth: { token: TOKENS.grafana, streams: ["schedules"] } });
    const pushed = nextEvent(socket, "schedules:update", (list: ScheduleList) => list.schedules.some((s) => s.name === "nightly"));
    const created = await create({ name: "nightly", cron: "30 2 * * *", type: "echo", payload: { n: 1 }, timezone: "Europe/Paris", priority: 3 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const view = created.body as ScheduleView;
    assert.deepEqual(
      { ...view, createdAt: undefined, updatedAt: undefined, nextRunAt: undefined },
      { name: "nightly", cron: "30 2 * * *", type: "echo", payload: { n: 1 }, timezone: "Europe/Paris", enabled: true, catchUp: true, priority: 3, by: "ci", createdAt: undefined, updatedAt: undefined, nextRunAt: undefined, lastRunAt: null, lastTaskId: null, lastError: null },
    );
    // 02:30 in Paris is 00:30 or 01:30 UTC.
    assert.match(view.nextRunAt!, /T0[01]:30:00\.000Z$/);
    assert.ok(Date.parse(view.nextRunAt!) > Date.now());
    assert.ok((await pushed).schedules.find((s) => s.name === "nightly"));

    const listed = await api(b, "/api/schedules", { headers: viewer });
    assert.equal(listed.status, 200);
    assert.deepEqual((listed.body as ScheduleList).schedules.find((s) => s.name === "nightly"), view);
    assert.deepEqual((await api(b, "/api/schedules/nightly", { headers: viewer })).body, view);

    const changed = await send(b, "PUT", "/api/schedules/nightly", { cron: "0 3 * * 1-5", enabled: false });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.cron, "0 3 * * 1-5");
    assert.equal(changed.body.enabled, false);
    assert.equal(changed.body.nextRunAt, null, "a disabled schedule has no next run");
    assert.deepEqual(changed.body.payload, { n: 1 }, "fields not sent keep their value");

    const deleted = await send(a, "DELETE", "/api/schedules/nightly");
    assert.deepEqual([deleted.status, deleted.body], [200, { name: "nightly", deleted: true }]);
    assert.equal((await api(b, "/api/schedules/nightly", { headers: viewer })).status, 404);

    const audited = await eventually(async () => {
      const entries = ((await api(a, "/api/audit?limit=100", { headers: operator })).body.entries as AuditEntry[]).filter((e) => e.action.startsWith("schedule.") && e.target === "nightly");
      return entries.length === 3 ? entries : undefined;
    }, "three schedule entries in the audit log");
    assert.deepEqual(audited.map((e) => [e.action, e.actor.name]).reverse(), [["schedule.create", "ci"], ["schedule.update", "ci"], ["schedule.delete", "ci"]]);
    assert.match(audited[1].detail!, /cron "0 3 \* \* 1-5", enabled false/);
  });

  test("bad input: each refused with a clear 4xx, and nothing created", async () => {
    const [a] = stack.nodes;
    const ok = { name: "bad-input", cron: "0 0 1 1 *", type: "echo" };
    const refusals: Array<[Record<string, unknown> | string, number, RegExp]> = [
      [{ ...ok, cron: "61 * * * *" }, 400, /cron "61 \* \* \* \*" is not valid \(Invalid value for minute: 61\); use 5 fields/],
      [{ ...ok, cron: "0 0 0 1 1 * 2030" }, 400, /is not valid .*7 parts/],
      [{ ...ok, cron: "every minute" }, 400, /cron "every minute" is not valid/],
      [{ ...ok, cron: "0 0 30 2 *" }, 400, /never matches/],
      [{ ...ok, type: "no-such-type" }, 400, /Unknown task type "no-such-type"\. Known types: sleep, echo, fail, flaky/],
      [{ ...ok, type: "sleep", payload: { ms: "long" } }, 400, /Invalid payload for "sleep"/],
      [{ ...ok, payload: [1, 2] }, 400, /payload/],
      [{ ...ok, timezone: "Mars/Olympus" }, 400, /timezone "Mars\/Olympus" is not an IANA time zone/],
      [{ ...ok, name: "no spaces please" }, 400, /name must be 1 to 64 letters/],
      [{ ...ok, priority: 12 }, 400, /priority must be from 0 to 9/],
      [{ ...ok, enabled: "yes" }, 400, /enabled must be true or false/],
      [{ ...ok, colour: "red" }, 400, /colour/],
      [{ cron: "* * * * *", type: "echo" }, 400, /name/],
      ["{not json", 400, /not valid JSON/],
    ];
    for (const [body, status, message] of refusals) {
      const res = await create(body as Record<string, unknown>);
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, "invalid_input");
      assert.match(res.body.error, message, JSON.stringify(body));
    }
    assert.equal((await api(a, "/api/schedules/bad-input", { headers: viewer })).status, 404);

    assert.equal((await create(ok)).status, 201);
    const duplicate = await create({ ...ok, cron: "0 0 * * *" }, stack.nodes[1]);
    assert.equal(duplicate.status, 409, JSON.stringify(duplicate.body));
    assert.match(duplicate.body.error, /A schedule named "bad-input" exists already; change it with PUT \/api\/schedules\/bad-input/);
    // At most MAX_SCHEDULES: filled up with placeholders (which no node runs), one more is 409.
    const fillers = Array.from({ length: MAX_SCHEDULES - (await stack.redis.hlen(keys.schedules)) }, (_, i) => [`filler-${i}`, "{}"]).flat();
    await stack.redis.hset(keys.schedules, ...fillers);
    const full = await create({ ...ok, name: "one-too-many" });
    assert.deepEqual([full.status, full.body.code], [409, "conflict"]);
    assert.match(full.body.error, new RegExp(`There are ${MAX_SCHEDULES} schedules, the most Taskcast runs; delete one first`));
    await stack.redis.hdel(keys.schedules, ...fillers.filter((_, i) => i % 2 === 0));

    // Changes face the same checks; an unknown name is 404.
    assert.match((await send(a, "PUT", "/api/schedules/bad-input", { cron: "61 * * * *" })).body.error, /Invalid value for minute/);
    assert.match((await send(a, "PUT", "/api/schedules/bad-input", { type: "sleep", payload: { ms: -1 } })).body.error, /Invalid payload for "sleep"/);
    assert.match((await send(a, "PUT", "/api/schedules/bad-input", { name: "renamed" })).body.error, /name/);
    const missing = await send(a, "PUT", "/api/schedules/no-such-schedule", { enabled: false });
    assert.deepEqual([missing.status, missing.body.code], [404, "not_found"]);
    assert.match(missing.body.error, /No schedule named "no-such-schedule"; GET \/api\/schedules lists them/);
    assert.equal((await send(a, "DELETE", "/api/schedules/no-such-schedule")).status, 404);
    assert.equal((await api(a, "/api/schedules/%E0%A4%A", { headers: viewer })).status, 400);
    assert.equal((await api(a, "/api/schedules/bad-input", { headers: viewer })).body.cron, "0 0 1 1 *", "no refused change wrote anything");

    // Viewers see schedules but change nothing; without a token nothing at all; other methods are 405.
    assert.equal((await api(a, "/api/schedules", { headers: viewer })).status, 200);
    for (const [method, path] of [["POST", "/api/schedules"], ["PUT", "/api/schedules/bad-input"], ["DELETE", "/api/schedules/bad-input"]]) {
      const refused = await send(a, method, path, method === "DELETE" ? undefined : { ...ok, name: "viewer-made" }, viewer);
      assert.equal(refused.status, 403, `${method} ${path}: ${JSON.stringify(refused.body)}`);
      assert.match(refused.body.error, /needs the operator role/);
      assert.equal((await send(a, method, path, {}, {})).status, 401);
    }
    const wrong = await send(a, "PATCH", "/api/schedules/bad-input", { enabled: false });
    assert.equal(wrong.status, 405);
    assert.match(wrong.body.error, /use GET or PUT or DELETE/);
    assert.equal((await send(a, "DELETE", "/api/schedules")).status, 405);
    assert.equal((await api(a, "/api/schedules/bad-input", { headers: viewer })).status, 200, "still there");
    assert.equal((await send(a, "DELETE", "/api/schedules/bad-input")).status, 200);
  });

  test("a per-second schedule on two web nodes queues one task per tick, each tick once, none missed; its tasks link back", async () => {
    const created = await create({ name: "every-second", cron: "* * * * * *", type: "echo", payload: { from: "schedule" } }, stack.nodes[1]);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const runs = await untilRuns("every-second", 6);
    await disable("every-second");
    await sleep(1500);
    const all = await runsOf("every-second");
    assert.ok(all.length >= 6);
    assertConsecutive(all, "two nodes");
    assert.ok(Date.parse(all[0].scheduleTick!) > Date.parse(created.body.createdAt), "the first tick is the first after creation");
    for (const task of all) assert.deepEqual([task.type, task.payload, task.status], ["echo", { from: "schedule" }, "queued"]);
    // The last run is shown with its task.
    const view = (await api(stack.nodes[0], "/api/schedules/every-second", { headers: viewer })).body as ScheduleView;
    assert.equal(view.lastTaskId, all.at(-1)!.id);
    assert.equal(view.lastRunAt, all.at(-1)!.scheduleTick);
    assert.ok(runs.length <= all.length);
    // The tasks search filters by schedule.
    const found = await api(stack.nodes[1], "/api/tasks/search?schedule=every-second&limit=200", { headers: viewer });
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual((found.body.tasks as TaskRecord[]).map((t) => t.id).sort(), all.map((t) => t.id).sort());
    assert.ok((found.body.tasks as TaskRecord[]).every((t) => t.schedule === "every-second" && t.scheduleTick));
  });

  test("of two nodes' claims of the same tick from the same reading, exactly one wins", async () => {
    assert.equal((await create({ name: "contested", cron: "* * * * * *", type: "echo", enabled: false })).status, 201);
    const store = new ScheduleStore(stack.redis, keys);
    const state = (await store.get("contested"))!;
    const tick = state.lastTick + 5000;
    const wins = await Promise.all([store.claim(state, tick, true, Date.now()), store.claim(state, tick, true, Date.now()), store.claim(state, tick, true, Date.now())]);
    assert.deepEqual(wins.filter(Boolean).length, 1, `one claim wins: ${wins}`);
    assert.equal(Number(await stack.redis.hget(keys.scheduleTicks, "contested")), tick);
    // A claim made against an older definition (changed since it was read) loses too.
    const fresh = (await store.get("contested"))!;
    assert.equal((await send(node(), "PUT", "/api/schedules/contested", { priority: 1 })).status, 200);
    assert.equal(await store.claim(fresh, tick + 1000, true, Date.now()), false);
    assert.equal(await stack.redis.zcard(keys.schedulePending), 1);
    assert.equal((await send(node(), "DELETE", "/api/schedules/contested")).status, 200);
    assert.equal(await stack.redis.zcard(keys.schedulePending), 0, "a deleted schedule's pending ticks go with it");
  });

  test("a tick left pending by a node that died is queued by another, once: replayed if its task was queued, queued if not", async () => {
    assert.equal((await create({ name: "orphans", cron: "* * * * * *", type: "echo" })).status, 201);
    const [queued] = await untilRuns("orphans", 1);
    await disable("orphans");
    await sleep(500);
    const runsBefore = await runsOf("orphans");
    // As if two nodes had claimed ticks and died: one after RabbitMQ confirmed its task, one before submitting.
    const ranTick = Date.parse(queued.scheduleTick!);
    const lostTick = Date.parse(runsBefore[0].scheduleTick!) - 3 * SECOND;
    await stack.redis.zadd(keys.schedulePending, Date.now() - 60_000, `orphans ${ranTick}`, Date.now() - 60_000, `orphans ${lostTick}`);
    await eventually(async () => ((await stack.redis.zcard(keys.schedulePending)) === 0 ? true : undefined), "the pending ticks settled");
    const runsAfter = await runsOf("orphans");
    assert.equal(runsAfter.length, runsBefore.length + 1, "only the lost tick made a task");
    assert.deepEqual(runsAfter.filter((r) => Date.parse(r.scheduleTick!) === ranTick).map((r) => r.id), [queued.id], "the queued tick's task was replayed, not queued again");
    assert.equal(runsAfter.filter((r) => Date.parse(r.scheduleTick!) === lostTick).length, 1);
  });

  test("a node that dies after RabbitMQ confirmed a tick's task, before settling it: the sweep settles the tick, one task; no Idempotency-Key", async () => {
    // "Death" of whichever node runs the first tick of `dying` once its task is queued: the tick is never settled
    // (and, for a submission that used an Idempotency-Key, the key never confirmed).
    let deadTick: number | undefined;
    const settle = ScheduleStore.prototype.settle;
    const confirm = IdempotencyKeys.prototype.confirm;
    ScheduleStore.prototype.settle = async function (this: ScheduleStore, name, run) {
      if (name === "dying" && deadTick === undefined) {
        deadTick = run.tick;
        return;
      }
      return settle.call(this, name, run);
    };
    IdempotencyKeys.prototype.confirm = async function (this: IdempotencyKeys, key, taskId) {
      if (key.includes("schedule:dying:")) throw new Error("simulated death");
      return confirm.call(this, key, taskId);
    };
    const idempotencyKeys = async () => (await stack.redis.keys(`${stack.config.KEY_PREFIX}:idempotency:*`)).length;
    const keysBefore = await idempotencyKeys();
    try {
      assert.equal((await create({ name: "dying", cron: "* * * * * *", type: "echo" })).status, 201);
      await eventually(async () => deadTick, "the first tick queued and its node 'died'", 10 * SECOND);
      await disable("dying");
      // Taken over PENDING_RETRY_MS (10 s) after its claim, and settled as done: its task exists.
      await eventually(async () => ((await stack.redis.zscore(keys.schedulePending, `dying ${deadTick}`)) === null ? true : undefined), "the dead tick settled", 20 * SECOND);
      const runs = await runsOf("dying");
      assert.equal(runs.filter((r) => Date.parse(r.scheduleTick!) === deadTick).length, 1, "the dead tick has one task");
      const view = (await send(node(), "GET", "/api/schedules/dying")).body as ScheduleView;
      assert.equal(view.lastError, null);
      assert.equal(await idempotencyKeys(), keysBefore, "ticks keep no Idempotency-Keys");
    } finally {
      ScheduleStore.prototype.settle = settle;
      IdempotencyKeys.prototype.confirm = confirm;
    }
  });

  test("slow submissions and dead nodes' pending ticks hold back no other schedule: a catchUp: false one loses no tick", async () => {
    // Every task of `slow` takes 7 s to queue (as if RabbitMQ's confirm were slow), both its due ticks and its
    // pending ticks left by "dead" nodes, which the sweep retries. `steady` must tick on time meanwhile.
    const submit = TaskSubmission.prototype.submit;
    TaskSubmission.prototype.submit = async function (this: TaskSubmission, request) {
      if (request.schedule?.name === "slow") await sleep(7 * SECOND);
      return submit.call(this, request);
    };
    try {
      assert.equal((await create({ name: "slow", cron: "* * * * * *", type: "echo" })).status, 201);
      const since = Date.now() - 30 * SECOND;
      const dead = [1, 2, 3, 4, 5, 6].map((i) => `slow ${Math.floor(since / SECOND) * SECOND + i * SECOND}`);
      await stack.redis.zadd(keys.schedulePending, ...dead.flatMap((member) => [since, member]));
      assert.equal((await create({ name: "steady", cron: "* * * * * *", type: "echo", catchUp: false })).status, 201);
      await sleep(15 * SECOND);
      await disable("steady");
      await disable("slow");
      await sleep(SECOND);
      const runs = await runsOf("steady");
      assert.ok(runs.length >= 12, `steady ticked ${runs.length} times in 15 s`);
      assertConsecutive(runs, "steady");
      const late = Math.max(...runs.map((r) => Date.parse(r.createdAt) - Date.parse(r.scheduleTick!)));
      assert.ok(late < 2 * SECOND, `steady's tasks queued at most 2 s after their tick (the latest: ${late} ms)`);
    } finally {
      TaskSubmission.prototype.submit = submit;
    }
    for (const name of ["slow", "steady"]) assert.equal((await send(node(), "DELETE", `/api/schedules/${name}`)).status, 200);
  });

  test("ticks go on through web node restarts, and those missed while no node ran are caught up once, oldest first", async () => {
    assert.equal((await create({ name: "through-restarts", cron: "* * * * * *", type: "echo" })).status, 201);
    await untilRuns("through-restarts", 2);
    // One node restarts while the other goes on.
    await stack.nodes[0].close();
    stack.nodes.splice(0, 1);
    await sleep(1500);
    await stack.addNode();
    const beforeStop = (await runsOf("through-restarts")).length;
    // Then both stop: nothing runs for 3 seconds, until a node starts again.
    await Promise.all(stack.nodes.map((n) => n.close()));
    const stoppedAt = Date.now();
    stack.nodes.splice(0);
    await sleep(3000);
    await stack.addNode();
    await stack.addNode();
    const runs = await untilRuns("through-restarts", beforeStop + 6);
    await disable("through-restarts");
    await sleep(1500);
    const all = await runsOf("through-restarts");
    assertConsecutive(all, "restarts");
    assert.ok(all.some((r) => Date.parse(r.scheduleTick!) > stoppedAt + 2 * SECOND && Date.parse(r.scheduleTick!) < stoppedAt + 3 * SECOND), "a tick from while no node ran was caught up");
    assert.ok(runs.length >= beforeStop + 6);
  });

  test("a gap of 20 s (last tick set back) is caught up with one task per missed tick; catchUp: false skips them", async () => {
    for (const [name, catchUp] of [["catch-up", true], ["no-catch-up", false]] as const) {
      assert.equal((await create({ name, cron: "* * * * * *", type: "echo", catchUp })).status, 201);
    }
    await untilRuns("catch-up", 1);
    await untilRuns("no-catch-up", 1);
    // Disabled, their last ticks are set back 20 s as if every node had been down that long, then they run again.
    const setBack = Date.now() - 20 * SECOND;
    for (const name of ["catch-up", "no-catch-up"]) {
      await disable(name);
      await sleep(300);
      const tick = Math.floor(setBack / SECOND) * SECOND;
      // Keep the definition as it is but enabled, so its last tick stays where it was set (an operator's enable restarts from now).
      const raw = JSON.parse((await stack.redis.hget(keys.schedules, name))!);
      await stack.redis.hset(keys.schedules, name, JSON.stringify({ ...raw, enabled: true }));
      await stack.redis.hset(keys.scheduleTicks, name, String(tick));
    }
    const resumedAt = Date.now();
    await untilRuns("catch-up", 22);
    await sleep(1500);
    await disable("catch-up");
    await disable("no-catch-up");
    await sleep(1500);
    const caughtUp = (await runsOf("catch-up")).filter((r) => Date.parse(r.scheduleTick!) > setBack);
    assertConsecutive(caughtUp, "catch-up");
    assert.ok(caughtUp.length >= 20, `every missed tick ran: ${caughtUp.length}`);
    const skipped = (await runsOf("no-catch-up")).filter((r) => Date.parse(r.scheduleTick!) > setBack);
    assert.ok(skipped.length > 0, "the schedule went on");
    const oldest = Date.parse(skipped[0].scheduleTick!);
    assert.ok(oldest >= resumedAt - 6 * SECOND, `no tick older than the grace of 5 s ran (oldest ${skipped[0].scheduleTick}, resumed ${new Date(resumedAt).toISOString()})`);
    assertConsecutive(skipped, "no catch-up, after the gap");
  });

  test("a disabled schedule does not tick; a deleted one stops", async () => {
    assert.equal((await create({ name: "off", cron: "* * * * * *", type: "echo", enabled: false })).status, 201);
    assert.equal((await create({ name: "doomed", cron: "* * * * * *", type: "echo" })).status, 201);
    await untilRuns("doomed", 2);
    assert.equal((await send(node(), "DELETE", "/api/schedules/doomed")).status, 200);
    await sleep(500);
    const afterDelete = (await runsOf("doomed")).length;
    await sleep(2500);
    assert.equal((await runsOf("off")).length, 0, "the disabled schedule queued nothing");
    assert.equal((await runsOf("doomed")).length, afterDelete, "the deleted schedule queued nothing more");
    assert.equal(await stack.redis.zcard(keys.schedulePending), 0, "no tick left pending");
  });
});
