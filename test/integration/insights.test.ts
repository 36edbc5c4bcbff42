// Insights over two real web nodes and a worker: activity series in Redis, the workers list and web node lag.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { TaskRecord } from "../../lib/contract";
import { StatsSeriesSchema, WebNodeListSchema, WorkerListSchema, type StatsSeries } from "../../lib/insights";
import { api, eventually, nextEvent, postJson, startStack, type Stack, type TestSocket } from "../helpers/stack";

const sum = (values: Array<number | null>) => values.reduce<number>((s, v) => s + (v ?? 0), 0);

async function series(stack: Stack, query = "minutes=15", node = 0): Promise<StatsSeries> {
  const { status, body } = await api(stack.nodes[node], `/api/stats/series?${query}`);
  assert.equal(status, 200, JSON.stringify(body));
  return StatsSeriesSchema.parse(body);
}

describe("insights", () => {
  let stack: Stack;
  let socket: TestSocket;

  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 1, env: { WORKER_CONCURRENCY: "4" } });
    socket = await stack.connectSocket(stack.nodes[1]);
  });
  after(() => stack.close());

  test("tasks finished and broadcasts are counted per second in Redis, the same on every web node", async () => {
    const startedAt = Math.floor(Date.now() / 1000);
    const finished = new Map<string, TaskRecord>();
    socket.on("task:update", (t) => {
      if (t.status === "succeeded" || t.status === "failed") finished.set(t.id, t);
    });
    const submitted: string[] = [];
    for (let i = 0; i < 5; i++) submitted.push((await postJson(stack.nodes[0], "/api/tasks", { type: "echo", payload: { i } })).body.id);
    for (let i = 0; i < 2; i++) submitted.push((await postJson(stack.nodes[0], "/api/tasks", { type: "fail", payload: { message: "no" } })).body.id);
    for (let i = 0; i < 3; i++) assert.equal((await postJson(stack.nodes[1], "/api/broadcasts", { message: `count me ${i}` })).status, 202);
    await eventually(async () => (submitted.every((id) => finished.has(id)) ? true : undefined), "every task to finish");

    const s = await eventually(async () => {
      const got = await series(stack);
      // Workers and web nodes write their counts every 250 ms.
      return sum(got.succeeded) === 5 && sum(got.failed) === 2 && sum(got.broadcasts) === 3 ? got : undefined;
    }, "the counters to reach 5 succeeded, 2 failed and 3 broadcasts");
    assert.equal(sum(s.dead), 0);
    // One time axis, one point per second, 15 minutes long, ending now.
    assert.equal(s.time.length, 15 * 60);
    for (const name of ["succeeded", "failed", "dead", "broadcasts", "ready", "unacked"] as const) assert.equal(s[name].length, s.time.length, name);
    assert.ok(s.time.every((t, i) => i === 0 || t === s.time[i - 1] + 1));
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(s.time.at(-1)! - now) <= 1);

    // In the seconds they happened: the seconds in which each task finished, by its record.
    const expected = new Map<number, number>();
    for (const t of finished.values()) {
      if (t.status !== "succeeded" || !submitted.includes(t.id)) continue;
      const second = Math.floor(Date.parse(t.finishedAt!) / 1000);
      expected.set(second, (expected.get(second) ?? 0) + 1);
    }
    for (const [second, count] of expected) assert.equal(s.succeeded[s.time.indexOf(second)], count, `succeeded in second ${second}`);
    assert.ok(s.time.filter((t, i) => s.succeeded[i] > 0).every((t) => t >= startedAt));

    // The other node answers the same from Redis.
    const other = await series(stack, "minutes=15", 1);
    assert.equal(sum(other.succeeded), 5);
    assert.equal(sum(other.broadcasts), 3);
  });

  test("queue depth is sampled every second, and ?since= returns only the newest seconds", async () => {
    const s = await eventually(async () => {
      const got = await series(stack);
      return got.ready.filter((v) => v !== null).length >= 2 ? got : undefined;
    }, "queue depth samples");
    const sampled = s.time.filter((_, i) => s.ready[i] !== null);
    assert.ok(sampled.every((t, i) => i === 0 || t > sampled[i - 1]));
    assert.ok(s.unacked.some((v) => v !== null));

    const since = Math.floor(Date.now() / 1000) - 3;
    const recent = await series(stack, `since=${since}`);
    assert.ok(recent.time.length >= 4 && recent.time.length <= 6, `${recent.time.length} seconds`);
    assert.equal(recent.time[0], since);
    // `since` never reaches past the window.
    assert.equal((await series(stack, "since=0&minutes=1")).time.length, 60);
    assert.equal((await api(stack.nodes[0], "/api/stats/series?minutes=16")).status, 400);
  });

  test("dead tasks are counted as their own series", async () => {
    const { body } = await postJson(stack.nodes[0], "/api/tasks", { type: "flaky", payload: { failures: 10 } });
    await nextEvent(socket, "task:update", (t) => t.id === body.id && t.status === "dead", 20_000);
    await eventually(async () => (sum((await series(stack)).dead) === 1 ? true : undefined), "the dead counter to reach 1");
  });

  test("/api/workers lists the worker with its fields, and a closed worker as gone", async () => {
    const [worker] = stack.workers;
    const list = await eventually(async () => {
      const { body } = await api(stack.nodes[0], "/api/workers");
      const parsed = WorkerListSchema.parse(body);
      return parsed.workers.some((w) => w.id === worker.id) ? parsed : undefined;
    }, "the worker to be listed");
    const listed = list.workers.find((w) => w.id === worker.id)!;
    assert.equal(listed.state, "live");
    assert.equal(listed.pid, process.pid);
    assert.equal(listed.concurrency, 4);
    assert.ok(listed.processed >= 8, `processed ${listed.processed}`);
    // Prefetch is twice the concurrency by default: up to 8 held, at most 4 running.
    assert.ok(listed.inflight >= 0 && listed.inflight <= 8, `inflight ${listed.inflight}`);
    assert.ok(listed.busy >= 0 && listed.busy <= 4 && listed.busy <= listed.inflight, `busy ${listed.busy}`);
    assert.ok(listed.heartbeatAgeMs < 5000);
    assert.ok(Date.parse(listed.startedAt) > 0);

    const second = await stack.addWorker();
    await worker.close();
    const listedAfter = await eventually(async () => {
      const parsed = WorkerListSchema.parse((await api(stack.nodes[1], "/api/workers")).body);
      const gone = parsed.workers.find((w) => w.id === worker.id);
      const live = parsed.workers.find((w) => w.id === second.id);
      return gone?.state === "gone" && live?.state === "live" ? parsed : undefined;
    }, "the closed worker to show as gone");
    // Live ones first.
    const states = listedAfter.workers.map((w) => w.state);
    assert.deepEqual(states, states.toSorted((a, b) => (a === b ? 0 : a === "live" ? -1 : 1)));
    // A worker that stops beating without closing (killed, frozen) is gone too, after WORKER_STALE_MS.
    const silent = { ...listed, id: "silent-host:1:abcd", running: [], beatAt: Date.now() - 10_000 };
    await stack.redis.hset(`${stack.config.KEY_PREFIX}:workers`, silent.id, JSON.stringify(silent));
    const silentListed = await eventually(async () => WorkerListSchema.parse((await api(stack.nodes[0], "/api/workers")).body).workers.find((w) => w.id === silent.id), "the silent worker to be listed");
    assert.equal(silentListed.state, "gone");
    assert.ok(silentListed.heartbeatAgeMs >= 10_000);
    // A gone worker no longer counts as holding deliveries.
    assert.equal(listedAfter.workers.find((w) => w.id === worker.id)!.inflight, 0);
  });

  test("each web node reports its broadcast delivery lag over the last minute", async () => {
    assert.equal((await postJson(stack.nodes[0], "/api/broadcasts", { message: "lag probe" })).status, 202);
    const list = await eventually(async () => {
      const parsed = WebNodeListSchema.parse((await api(stack.nodes[0], "/api/web-nodes")).body);
      return parsed.nodes.length === 2 && parsed.nodes.every((n) => n.lagMs.count > 0) ? parsed : undefined;
    }, "both nodes to report lag");
    for (const node of list.nodes) {
      assert.equal(typeof node.lagMs.avgMs, "number");
      assert.ok(node.lagMs.maxMs! >= node.lagMs.avgMs!);
      assert.ok(node.lagMs.maxMs! < 5000, `lag ${node.lagMs.maxMs} ms`);
    }
    assert.deepEqual(
      list.nodes.map((n) => n.id).sort(),
      stack.nodes.map((n) => list.nodes.find((l) => l.id.endsWith(`:${n.port}`))!.id).sort(),
    );
    // Connections agree with /api/presence.
    const presence = (await api(stack.nodes[0], "/api/presence")).body as { total: number };
    assert.equal(list.nodes.reduce((s, n) => s + n.connections, 0), presence.total);
  });
});
