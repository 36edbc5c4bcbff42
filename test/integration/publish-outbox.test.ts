// A stored task gets its message even if its web node dies before publishing it: against real RabbitMQ and Redis.
// A submission marks each task it queues now as being published (server/store/publish-outbox.ts) before storing the
// record, and clears the mark once RabbitMQ confirmed the message; the web node holding the delayed-task lease
// publishes again the tasks whose marks a stopped node left (server/lifecycle/scheduled-tasks.ts).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { TaskClaim } from "../../lib/contract";
import { newTaskRecord } from "../../lib/task-lifecycle";
import { redisKeys } from "../../server/redis/keys";
import { TaskStore } from "../../server/store/task-store";
import { FaultProxy } from "../helpers/fault-proxy";
import { spawnWebNode } from "../helpers/processes";
import { eventually, postJson, startStack, type Stack } from "../helpers/stack";
import { submit, taskOf, waitForStatus } from "../helpers/tasks";

/** Older than the mover's STALE_MOVE_MS (15 s): a mark a stopped node left, as the sweep sees it. */
const STALE_AGE_MS = 20_000;

describe("tasks marked as being published", () => {
  let stack: Stack;
  let store: TaskStore;
  let moving: string;

  before(async () => {
    stack = await startStack({ workers: 1 });
    const keys = redisKeys(stack.config.KEY_PREFIX);
    store = new TaskStore(stack.redis, keys, 100);
    moving = keys.scheduledMoving;
    // This node queues delayed tasks and sweeps stale marks: wait until it holds that lease.
    await eventually(async () => ((await stack.redis.get(keys.scheduledMover)) ? true : undefined), "the delayed-task lease to be held");
  });
  after(() => stack.close());

  /**
   * A web node of its own whose RabbitMQ traffic goes through a fault proxy, with heartbeats far apart (neither side
   * gives the connection up while the proxy holds its bytes). `stop` kills it (SIGKILL) and closes the proxy.
   */
  async function nodeBehindProxy() {
    const proxy = await FaultProxy.start(stack.config.RABBITMQ_URL);
    const url = new URL(proxy.via(stack.config.RABBITMQ_URL));
    url.searchParams.set("heartbeat", "120");
    const child = await spawnWebNode(stack, { RABBITMQ_URL: url.toString() });
    return {
      proxy,
      post: (path: string, body: unknown) => fetch(`${child.url}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }),
      async stop() {
        child.process.kill("SIGKILL");
        await child.exited;
        await proxy.close();
      },
    };
  }

  /** The one task marked as being published, once its record is stored too. */
  const storedAndMarked = () =>
    eventually(async () => {
      const ids = await stack.redis.zrange(moving, "0", "-1");
      return ids.length === 1 && (await taskOf(stack, ids[0])) ? ids[0] : undefined;
    }, "the task stored and marked");

  test("a task is marked while RabbitMQ has not confirmed it, and the mark goes with the confirm (single and batch)", async () => {
    const node = await nodeBehindProxy();
    try {
      node.proxy.blackhole();
      const single = node.post("/api/tasks", { type: "echo", payload: { held: 1 } });
      const batch = node.post("/api/tasks/batch", { tasks: [1, 2, 3].map((i) => ({ type: "echo", payload: { held: i } })) });
      // Both requests wait for RabbitMQ's confirm; their four tasks are stored, and marked.
      const marked = await eventually(async () => {
        const ids = await stack.redis.zrange(moving, "0", "-1");
        return ids.length === 4 ? ids : undefined;
      }, "four marks while RabbitMQ does not answer");
      for (const id of marked) assert.equal((await taskOf(stack, id))?.status, "queued", `task ${id} is stored, queued`);
      node.proxy.restore();
      const [singleRes, batchRes] = await Promise.all([single, batch]);
      assert.ok([202, 503].includes(singleRes.status), `the single submission answered ${singleRes.status}`);
      assert.ok([202, 503].includes(batchRes.status), `the batch answered ${batchRes.status}`);
      for (const id of marked) await waitForStatus(stack, id, ["succeeded"]);
      await eventually(async () => ((await stack.redis.zcard(moving)) === 0 ? true : undefined), "every mark to go once RabbitMQ confirmed");
    } finally {
      await node.stop();
    }
  });

  test("a web node killed after storing a task and before RabbitMQ got its message: the task is published again and runs once", async () => {
    const node = await nodeBehindProxy();
    try {
      // RabbitMQ never sees the message: the proxy holds it until the node dies, then drops the connection.
      node.proxy.blackhole();
      void node.post("/api/tasks", { type: "echo", payload: { orphan: true } }).catch(() => undefined);
      const id = await storedAndMarked();
      await node.stop();
      assert.equal((await taskOf(stack, id))?.status, "queued");
      // About 15 s later the lease holder finds the stale mark and publishes the message.
      const done = await waitForStatus(stack, id, ["succeeded"], 30_000);
      assert.deepEqual(done.result, { orphan: true });
      assert.equal(done.attempts, 1, "run once");
      // The mover removes the mark once RabbitMQ confirmed the message, which may be after the task ran.
      await eventually(async () => ((await stack.redis.zscore(moving, id)) === null ? true : undefined), "its mark to go");
    } finally {
      await node.stop().catch(() => undefined);
    }
  });

  test("a publish RabbitMQ holds up for longer than the mover waits is not published again while its node lives", async () => {
    const node = await nodeBehindProxy();
    try {
      // As under a RabbitMQ memory alarm: the node's publish waits, its request answers 503 after 5 s.
      node.proxy.blackhole();
      const answer = node.post("/api/tasks", { type: "echo", payload: { held: "long" } });
      const id = await storedAndMarked();
      assert.equal((await answer).status, 503, "the request gave up waiting for the confirm");
      // Past the mover's 15 s from the first stamp and a sweep or two (2 s apart): the live node keeps stamping its
      // mark, so nothing is published (unstamped, the task would be published and run by now).
      await new Promise((r) => setTimeout(r, 14_000));
      assert.equal((await taskOf(stack, id))?.status, "queued", "not published by the mover (it would have run)");
      const [seconds] = await stack.redis.time();
      const age = Number(seconds) * 1000 - Number(await stack.redis.zscore(moving, id));
      assert.ok(age < 7000, `the mark was stamped ${age} ms ago`);
      // RabbitMQ takes the node's own message: the task runs once, and the mark goes.
      node.proxy.restore();
      const done = await waitForStatus(stack, id, ["succeeded"]);
      assert.equal(done.attempts, 1);
      await eventually(async () => ((await stack.redis.zscore(moving, id)) === null ? true : undefined), "the mark to go with the late confirm");
    } finally {
      await node.stop();
    }
  });

  test("a stale mark of a task a worker took, or of a task with no record, is dropped without publishing", async () => {
    // Claimed by a worker that then died: RabbitMQ redelivers its own message, so no second one is published.
    const claimed = `claimed-${randomUUID()}`;
    await store.create(newTaskRecord({ type: "submit", id: claimed, taskType: "echo", payload: {}, priority: 0, at: new Date().toISOString() }));
    const claim: TaskClaim = { worker: "worker-gone", startedAt: new Date().toISOString(), maxAttempts: 3, run: 1 };
    assert.ok((await store.claim(claimed, claim))?.claim, "the record carries the claim");
    // A mark whose submission was refused and its record removed (or that never stored one).
    const missing = `missing-${randomUUID()}`;
    const staleAt = Date.now() - STALE_AGE_MS;
    await stack.redis.zadd(moving, staleAt, claimed, staleAt, missing);
    await eventually(async () => ((await stack.redis.zscore(moving, claimed)) === null && (await stack.redis.zscore(moving, missing)) === null ? true : undefined), "both stale marks to be dropped", 10_000);
    // Nothing was published: the claimed task stays as it was, the missing one never appears.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await taskOf(stack, claimed))?.status, "queued");
    assert.equal(await taskOf(stack, missing), undefined);
  });

  test("an operator's retry whose web node is killed before RabbitMQ has the message: the task runs its new run", async () => {
    const id = await submit(stack, { type: "fail", payload: { message: "first run" } });
    await waitForStatus(stack, id, ["failed"]);
    const node = await nodeBehindProxy();
    try {
      // The retry records run 2 as queued (and marked), then waits on RabbitMQ, which never answers.
      node.proxy.blackhole();
      void node.post(`/api/tasks/${id}/retry`, { payload: { message: "second run" } }).catch(() => undefined);
      await eventually(async () => ((await taskOf(stack, id))?.status === "queued" ? true : undefined), "the retry stored");
      assert.notEqual(await stack.redis.zscore(moving, id), null, "marked in the same write");
      await node.stop();
      // The lease holder publishes run 2's message: the task runs it, with the edited payload.
      const done = await eventually(async () => {
        const task = await taskOf(stack, id);
        return task?.status === "failed" && task.run === 2 ? task : undefined;
      }, "run 2 to run", 30_000);
      assert.equal(done.error, "second run");
      assert.equal(done.attempts, 1, "run 2 ran once");
      await eventually(async () => ((await stack.redis.zscore(moving, id)) === null ? true : undefined), "its mark to go");
    } finally {
      await node.stop().catch(() => undefined);
    }
  });

  test("a retry, a bulk retry and an overdue retry's recovery leave no mark once RabbitMQ has the message", async () => {
    const failed = await submit(stack, { type: "fail", payload: {} });
    await waitForStatus(stack, failed, ["failed"]);
    const retried = await postJson(stack.nodes[0], `/api/tasks/${failed}/retry`, {});
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    assert.equal(await stack.redis.zscore(moving, failed), null, "answered once the mark is cleared");
    // A refused retry (the task is not finished) writes nothing, and marks nothing.
    const queued = `queued-${randomUUID()}`;
    await store.create(newTaskRecord({ type: "submit", id: queued, taskType: "echo", payload: {}, priority: 0, at: new Date().toISOString() }));
    assert.equal((await postJson(stack.nodes[0], `/api/tasks/${queued}/retry`, {})).status, 409);
    assert.equal(await stack.redis.zscore(moving, queued), null, "a refused retry leaves no mark");
    await store.remove(queued);
    await waitForStatus(stack, failed, ["failed"]);
  });

  test("a stale mark of a queued task that had attempts (an overdue retry queued again) publishes its run", async () => {
    // The state an overdue retry's recovery leaves when its node stops between the write and the publish: queued
    // as run 2, one attempt behind it, marked, no message anywhere.
    const id = `overdue-${randomUUID()}`;
    const at = new Date().toISOString();
    const created = await store.create({ ...newTaskRecord({ type: "submit", id, taskType: "echo", payload: { overdue: true }, priority: 0, at }), attempts: 1, run: 2 });
    assert.ok(created);
    await stack.redis.zadd(moving, Date.now() - STALE_AGE_MS, id);
    const done = await waitForStatus(stack, id, ["succeeded"], 30_000);
    assert.equal(done.run, 2, "the message names the record's run");
    assert.equal(done.attempts, 2);
    assert.deepEqual(done.result, { overdue: true });
  });

  test("a write made as being published marks the task only if it lands", async () => {
    const id = `marked-${randomUUID()}`;
    const record = await store.create(newTaskRecord({ type: "submit", id, taskType: "fail", payload: {}, priority: 0, at: new Date().toISOString() }));
    assert.ok(record);
    // A stale copy: the compare-and-set refuses it, and no mark is written.
    const stale = { ...record, version: record.version - 1 };
    let rounds = 0;
    await store.update(id, (cur) => (rounds++ === 0 ? { ...cur, progress: 0.5 } : undefined), stale, { publishing: true });
    assert.equal(await stack.redis.zscore(moving, id), null, "a refused write marks nothing");
    // A write that lands is marked, scored by Redis's clock.
    const saved = await store.update(id, (cur) => ({ ...cur, progress: 0.25 }), undefined, { publishing: true });
    assert.equal(saved?.progress, 0.25);
    const [seconds] = await stack.redis.time();
    const age = Number(seconds) * 1000 - Number(await stack.redis.zscore(moving, id));
    assert.ok(age >= -1000 && age < 5000, `marked ${age} ms ago`);
    await stack.redis.zrem(moving, id);
    await store.remove(id);
  });

  test("an ordinary submission leaves no mark behind", async () => {
    const id = await submit(stack, { type: "echo", payload: { plain: true } });
    const res = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: [{ type: "echo" }, { type: "echo", delayMs: 60_000 }] });
    assert.equal(res.status, 202);
    await waitForStatus(stack, id, ["succeeded"]);
    await waitForStatus(stack, res.body.tasks[0].id, ["succeeded"]);
    await eventually(async () => ((await stack.redis.zscore(moving, id)) === null && (await stack.redis.zscore(moving, res.body.tasks[0].id)) === null ? true : undefined), "the marks to go");
    assert.equal(await stack.redis.zscore(moving, res.body.tasks[1].id), null, "a delayed task is not marked when submitted");
  });
});
