// Delayed tasks against real RabbitMQ and Redis: `runAt` / `delayMs` on every submission path, the `scheduled`
// status, queued at runAt (not before, within about a second), cancel, several web nodes, restarts, AMQP bodies.
import assert from "node:assert/strict";
import { connect, type ConsumeMessage } from "amqplib";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { MAX_DELAY_MS, TaskRecordSchema, type BatchAck, type BatchSubmitAck, type TaskRecord, type TaskSubmitAck } from "../../lib/contract";
import { newTaskRecord, nextRecord } from "../../lib/task-lifecycle";
import { eventsQueueName } from "../../lib/worker-protocol";
import { loadConfig } from "../../server/config";
import { createLogger } from "../../server/logger";
import { redisKeys } from "../../server/redis/keys";
import { startWebNode } from "../../server/web-node";
import { TaskStore } from "../../server/store/task-store";
import { openAmqpClient, type AmqpClient } from "../helpers/amqp-client";
import { FaultProxy } from "../helpers/fault-proxy";
import { api, eventually, postJson, startStack, type Stack } from "../helpers/stack";
import { freePort, spawnWebNode } from "../helpers/processes";
import { submit, taskOf, waitForStatus } from "../helpers/tasks";

/** Reads the task every 20 ms until it leaves `scheduled`: the last time it was seen scheduled and the first time it was not. */
async function watchLeavingScheduled(stack: Stack, id: string, timeoutMs = 15_000): Promise<{ lastScheduledAt: number; leftAt: number; record: TaskRecord }> {
  let lastScheduledAt = 0;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const readAt = Date.now();
    const record = await taskOf(stack, id);
    assert.ok(record, `task ${id} exists`);
    if (record.status !== "scheduled") return { lastScheduledAt, leftAt: Date.now(), record };
    lastScheduledAt = readAt;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${id} still scheduled after ${timeoutMs} ms`);
}

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

describe("delayed tasks", () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ workers: 1 });
  });
  after(() => stack.close());

  test("a past runAt, both fields, more than 30 days ahead or a bad delayMs are refused with 400 naming the problem", async () => {
    const node = stack.nodes[0];
    const cases: Array<[object, RegExp]> = [
      [{ type: "echo", runAt: inMs(-1000) }, /runAt .* is not in the future/],
      [{ type: "echo", runAt: inMs(5000), delayMs: 5000 }, /either runAt or delayMs, not both/],
      [{ type: "echo", runAt: inMs(MAX_DELAY_MS + 60_000) }, /more than 30 days ahead/],
      [{ type: "echo", delayMs: MAX_DELAY_MS + 1 }, /delayMs must be at most/],
      [{ type: "echo", delayMs: 0 }, /delayMs must be more than 0/],
      [{ type: "echo", delayMs: 1.5 }, /delayMs must be a whole number/],
      [{ type: "echo", delayMs: "1000" }, /delayMs must be a whole number/],
      [{ type: "echo", runAt: "tomorrow" }, /runAt must be an ISO 8601 time with a time zone/],
      [{ type: "echo", runAt: "2099-01-01T10:00:00" }, /runAt must be an ISO 8601 time with a time zone/],
    ];
    for (const [body, message] of cases) {
      const res = await postJson(node, "/api/tasks", body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, "invalid_input");
      assert.match(res.body.error, message, JSON.stringify(body));
    }
    // The socket follows the same rules.
    const socket = await stack.connectSocket();
    const ack = await socket.timeout(5000).emitWithAck("task:submit", { type: "echo", runAt: inMs(-1000) });
    assert.ok("error" in ack && ack.code === "invalid_input" && /not in the future/.test(ack.error), JSON.stringify(ack));
    // Nothing was recorded.
    const { body } = await api(node, "/api/tasks?status=scheduled");
    assert.equal(body.tasks.length, 0);
  });

  test("a delayed task is recorded scheduled, queued at its runAt (not before, within about a second), then succeeds once", async () => {
    const res = await postJson(stack.nodes[0], "/api/tasks", { type: "echo", payload: { later: true }, delayMs: 1500, priority: 4 });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.status, "scheduled");
    const id = res.body.id as string;
    const scheduled = await taskOf(stack, id);
    assert.equal(scheduled?.status, "scheduled");
    assert.ok(scheduled?.runAt, "the record has its runAt");
    const runAt = Date.parse(scheduled.runAt);
    assert.ok(Math.abs(runAt - (Date.parse(scheduled.createdAt) + 1500)) < 100, `runAt ${scheduled.runAt} is createdAt + 1.5 s`);
    const listed = await api(stack.nodes[0], "/api/tasks?status=scheduled");
    assert.ok(listed.body.tasks.some((t: TaskRecord) => t.id === id), "listed under the scheduled filter");

    const { lastScheduledAt, leftAt } = await watchLeavingScheduled(stack, id);
    assert.ok(lastScheduledAt >= runAt - 100, `still scheduled until its time (last seen scheduled ${runAt - lastScheduledAt} ms before runAt)`);
    assert.ok(leftAt >= runAt, `not queued before runAt (left ${runAt - leftAt} ms early)`);
    assert.ok(leftAt <= runAt + 1000, `queued within a second of runAt (took ${leftAt - runAt} ms)`);
    const done = await waitForStatus(stack, id, ["succeeded"]);
    assert.deepEqual(done.result, { later: true });
    assert.equal(done.attempts, 1);
    assert.equal(done.priority, 4);
    assert.equal(done.runAt, scheduled.runAt, "the record keeps when it was to run");
    assert.equal(await stack.redis.zscore(redisKeys(stack.config.KEY_PREFIX).scheduled, id), null, "its schedule entry is gone");
    assert.equal(await stack.redis.zcard(redisKeys(stack.config.KEY_PREFIX).scheduledMoving), 0, "no move is left half done");
  });

  test("a scheduled task cancelled before its time is cancelled at once and never runs", async () => {
    const id = await submit(stack, { type: "echo", payload: { never: true }, runAt: inMs(1200) });
    const cancel = await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {});
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    assert.equal(cancel.body.status, "cancelled");
    const keys = redisKeys(stack.config.KEY_PREFIX);
    // Past its time, and the mover has been by.
    await eventually(async () => ((await stack.redis.zscore(keys.scheduled, id)) === null ? true : undefined), "the schedule entry to be dropped at its time");
    await new Promise((r) => setTimeout(r, 500));
    const record = await taskOf(stack, id);
    assert.equal(record?.status, "cancelled");
    assert.equal(record?.attempts, 0, "it never ran");
    assert.equal(record?.awaitingDelivery, undefined, "no message waits for it");
    const queue = await api(stack.nodes[0], "/api/queue");
    assert.equal(queue.body.ready + queue.body.unacked, 0, "no message was queued for it");
  });

  test("a batch mixes tasks to run now and later: each is queued at its own time", async () => {
    const res = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: [{ type: "echo", payload: { n: 1 } }, { type: "echo", payload: { n: 2 }, runAt: inMs(1500) }, { type: "echo", payload: { n: 3 }, delayMs: 1000 }] });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body.tasks.map((t: { status: string }) => t.status), ["queued", "scheduled", "scheduled"]);
    const [now, later, delayed] = res.body.tasks.map((t: { id: string }) => t.id) as string[];
    await waitForStatus(stack, now, ["succeeded"]);
    assert.equal((await taskOf(stack, later))?.status, "scheduled", "the later one waits");
    for (const id of [later, delayed]) assert.equal((await waitForStatus(stack, id, ["succeeded"])).attempts, 1);

    const bad = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: [{ type: "echo" }, { type: "echo", runAt: inMs(-5000) }, { type: "echo", delayMs: 1, runAt: inMs(1000) }] });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.match(bad.body.error, /^2 of 3 tasks are invalid/);
    assert.match(bad.body.error, /tasks\[1\]: [^|]*not in the future/);
    assert.match(bad.body.error, /tasks\[2\]: [^|]*not both/);
  });

  test("the socket's task:submit and task:submitBatch schedule too", async () => {
    const socket = await stack.connectSocket();
    const one: TaskSubmitAck = await socket.timeout(5000).emitWithAck("task:submit", { type: "echo", payload: {}, delayMs: 800 });
    assert.ok("id" in one && one.status === "scheduled", JSON.stringify(one));
    const many: BatchSubmitAck = await socket.timeout(5000).emitWithAck("task:submitBatch", { tasks: [{ type: "echo", delayMs: 800 }] });
    assert.ok("tasks" in many && many.tasks[0].status === "scheduled", JSON.stringify(many));
    for (const id of ["id" in one ? one.id : "", "tasks" in many ? many.tasks[0].id : ""]) await waitForStatus(stack, id, ["succeeded"]);
  });

  test("a delayed task of an outside worker's type goes to that worker's queue at its time, with its priority", async () => {
    const model = await connect(stack.config.rabbitmqUrls[0]);
    const ch = await model.createConfirmChannel();
    const queue = `outside-${randomUUID().slice(0, 8)}-${stack.config.TASK_QUEUE}`;
    const type = `resize-${randomUUID().slice(0, 8)}`;
    try {
      const announce = { kind: "worker", v: 1, worker: `php-${randomUUID().slice(0, 8)}`, queue, types: [{ name: type, description: "Resizes", example: {} }], concurrency: 1, inflight: 0, language: "php", host: "php-box" };
      ch.sendToQueue(eventsQueueName(stack.config.TASK_QUEUE), Buffer.from(JSON.stringify(announce)), { persistent: true });
      await ch.waitForConfirms();
      await eventually(async () => ((await api(stack.nodes[0], "/api/task-types")).body.types.some((t: { name: string }) => t.name === type) ? true : undefined), "the outside type to be offered");
      const res = await postJson(stack.nodes[0], "/api/tasks", { type, payload: { width: 7 }, delayMs: 1000, priority: 6 });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const runAt = Date.parse((await taskOf(stack, res.body.id))!.runAt!);
      const got: Array<{ at: number; msg: ConsumeMessage }> = [];
      await ch.consume(queue, (msg) => msg && got.push({ at: Date.now(), msg }), { noAck: true });
      const first = await eventually(async () => got.find((g) => JSON.parse(g.msg.content.toString()).id === res.body.id), "the delivery on the outside queue");
      assert.ok(first.at >= runAt, "not delivered before runAt");
      assert.equal(first.msg.properties.priority, 6);
      assert.deepEqual(JSON.parse(first.msg.content.toString()).payload, { width: 7 });
    } finally {
      await ch.deleteQueue(queue).catch(() => undefined);
      await model.close();
    }
  });

  test("a move left half done by a node that stopped (entry in the moving set, record scheduled) is finished by the sweep", async () => {
    const keys = redisKeys(stack.config.KEY_PREFIX);
    const store = new TaskStore(stack.redis, keys, 100);
    const id = `orphan-${randomUUID()}`;
    // Due 20 s ago and taken into the moving set then (as TAKE_DUE does) by a node that died before queueing it.
    const created = await store.create(newTaskRecord({ type: "submit", id, taskType: "echo", payload: { orphan: true }, priority: 0, at: new Date(Date.now() - 30_000).toISOString(), runAt: new Date(Date.now() - 20_000).toISOString() }));
    assert.equal(created?.status, "scheduled");
    await stack.redis.zadd(keys.scheduledMoving, Date.now() - 20_000, id);
    const done = await waitForStatus(stack, id, ["succeeded"], 20_000);
    assert.deepEqual(done.result, { orphan: true });
    assert.equal(await stack.redis.zscore(keys.scheduledMoving, id), null);
  });
});

describe("delayed tasks on several web nodes", () => {
  test("two web nodes queue each scheduled task once; a task scheduled while its node restarts still runs", async () => {
    const stack = await startStack({ webNodes: 2, workers: 0 });
    try {
      const res = await postJson(stack.nodes[1], "/api/tasks/batch", { tasks: Array.from({ length: 20 }, (_, i) => ({ type: "echo", payload: { i }, delayMs: 800 })) });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const ids = res.body.tasks.map((t: { id: string }) => t.id) as string[];
      await eventually(async () => ((await api(stack.nodes[0], "/api/tasks?status=queued&limit=100")).body.tasks.length === 20 ? true : undefined), "all 20 to be queued");
      // Give a second mover time to queue them again, were there one.
      await new Promise((r) => setTimeout(r, 1000));
      const queue = await api(stack.nodes[0], "/api/queue");
      assert.equal(queue.body.ready, 20, "one message per task");
      await stack.addWorker();
      for (const id of ids) {
        const done = await waitForStatus(stack, id, ["succeeded"]);
        assert.equal(done.attempts, 1);
        assert.equal(done.attemptLog.length, 1);
      }

      // Every web node restarts while a task is scheduled: the schedule lives in Redis.
      const id = await submit(stack, { type: "echo", payload: { survived: true }, delayMs: 2500 });
      await Promise.all(stack.nodes.splice(0).map((n) => n.close()));
      await stack.addNode();
      const done = await waitForStatus(stack, id, ["succeeded"]);
      assert.deepEqual(done.result, { survived: true });
      assert.equal(done.attempts, 1);
    } finally {
      await stack.close();
    }
  });
});

describe("the node queueing scheduled tasks killed", () => {
  test("another web node takes the lease over and queues the tasks, each once, late by at most the lease", async () => {
    const stack = await startStack({ webNodes: 0, workers: 1 });
    try {
      // The child node starts first, so it holds the lease; the in-process node is the survivor.
      const child = await spawnWebNode(stack, { PORT: String(await freePort()) });
      const keys = redisKeys(stack.config.KEY_PREFIX);
      await eventually(async () => ((await stack.redis.get(keys.scheduledMover)) ? true : undefined), "the child to take the lease");
      const survivor = await stack.addNode();
      const res = await postJson(survivor, "/api/tasks/batch", { tasks: Array.from({ length: 5 }, (_, i) => ({ type: "echo", payload: { i }, delayMs: 1500 })) });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      child.process.kill("SIGKILL");
      assert.equal(await child.exited, null);
      const ids = res.body.tasks.map((t: { id: string }) => t.id) as string[];
      for (const id of ids) {
        const done = await waitForStatus(stack, id, ["succeeded"]);
        assert.equal(done.attempts, 1);
        assert.ok(Date.parse(done.startedAt!) <= Date.parse(done.runAt!) + 5000, `started ${Date.parse(done.startedAt!) - Date.parse(done.runAt!)} ms after runAt`);
      }
    } finally {
      await stack.close();
    }
  });
});

describe("the clock that decides", () => {
  test("a lease holder whose clock runs 5 s ahead does not queue a task early: due is by Redis's clock", async () => {
    const stack = await startStack({ webNodes: 0, workers: 1 });
    try {
      const child = await spawnWebNode(stack, { PORT: String(await freePort()) }, 5000);
      await eventually(async () => ((await stack.redis.get(redisKeys(stack.config.KEY_PREFIX).scheduledMover)) ? true : undefined), "the skewed node to take the lease");
      const node = await stack.addNode();
      const res = await postJson(node, "/api/tasks", { type: "echo", payload: {}, delayMs: 2000 });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const runAt = Date.parse((await taskOf(stack, res.body.id))!.runAt!);
      const { leftAt } = await watchLeavingScheduled(stack, res.body.id);
      assert.ok(leftAt >= runAt, `not queued before runAt (left ${runAt - leftAt} ms early)`);
      assert.ok(leftAt <= runAt + 1000, `queued within a second of runAt (took ${leftAt - runAt} ms)`);
      child.process.kill("SIGTERM");
      await child.exited;
    } finally {
      await stack.close();
    }
  });

  test("delayMs and runAt sent to a web node whose clock runs 5 s ahead count from Redis's clock", async () => {
    const stack = await startStack({ webNodes: 1, workers: 0 });
    try {
      const skewed = await spawnWebNode(stack, { PORT: String(await freePort()) }, 5000);
      const sentAt = Date.now();
      const res = await postJson({ url: skewed.url } as never, "/api/tasks", { type: "echo", payload: {}, delayMs: 1000 });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const runAt = Date.parse((await taskOf(stack, res.body.id))!.runAt!);
      assert.ok(runAt >= sentAt + 1000 && runAt <= Date.now() + 1000, `runAt ${runAt - sentAt} ms after the request, asked 1000`);
      // A runAt 2 s ahead is in the future by Redis's clock, though past by the node's.
      const batch = await postJson({ url: skewed.url } as never, "/api/tasks/batch", { tasks: [{ type: "echo", runAt: inMs(2000) }, { type: "echo", delayMs: 1000 }] });
      assert.equal(batch.status, 202, JSON.stringify(batch.body));
      const batchRunAt = Date.parse((await taskOf(stack, (batch.body as BatchAck).tasks[1].id))!.runAt!);
      assert.ok(batchRunAt <= Date.now() + 1000, `batch delayMs counted from Redis's clock (${batchRunAt - Date.now()} ms ahead)`);
      skewed.process.kill("SIGTERM");
      await skewed.exited;
    } finally {
      await stack.close();
    }
  });
});

describe("delayed tasks over AMQP", () => {
  let stack: Stack;
  let amqp: AmqpClient;

  before(async () => {
    stack = await startStack({ workers: 1 });
    amqp = await openAmqpClient(stack);
  });
  after(async () => {
    await amqp.close();
    await stack.close();
  });
  const publish = (body: object, properties: Record<string, unknown> = {}) => amqp.publish(body, properties);

  test("a message with delayMs is recorded scheduled, runs at its time and replies to its reply_to once", async () => {
    const id = `amqp-${randomUUID()}`;
    const correlationId = randomUUID();
    const sentAt = Date.now();
    await publish({ type: "echo", payload: { via: "amqp" }, id, delayMs: 1500 }, { replyTo: amqp.replyQueue, correlationId, priority: 2 });
    const scheduled = await waitForStatus(stack, id, ["scheduled"]);
    assert.ok(scheduled.runAt && Date.parse(scheduled.runAt) >= sentAt + 1500);
    assert.equal(scheduled.priority, 2);
    const { leftAt } = await watchLeavingScheduled(stack, id);
    assert.ok(leftAt >= Date.parse(scheduled.runAt!), "not queued before runAt");
    const done = await waitForStatus(stack, id, ["succeeded"]);
    assert.equal(done.attempts, 1);
    const reply = await amqp.reply(correlationId);
    const replied = TaskRecordSchema.parse(JSON.parse(reply.content.toString()));
    assert.equal(replied.id, id);
    assert.equal(replied.status, "succeeded");
  });

  test("a second copy of a scheduling message is dropped; a bad delay makes the message dead with its reason", async () => {
    const id = `amqp-${randomUUID()}`;
    await publish({ type: "echo", payload: { copy: 1 }, id, runAt: inMs(1500) });
    await waitForStatus(stack, id, ["scheduled"]);
    await publish({ type: "echo", payload: { copy: 2 }, id, runAt: inMs(1500) });
    const done = await waitForStatus(stack, id, ["succeeded"]);
    assert.deepEqual(done.result, { copy: 1 });
    assert.equal(done.attempts, 1);

    const bad = `amqp-${randomUUID()}`;
    await publish({ type: "echo", payload: {}, id: bad, runAt: inMs(2000), delayMs: 2000 });
    const dead = await waitForStatus(stack, bad, ["dead"]);
    assert.match(dead.error ?? "", /either runAt or delayMs, not both/);
  });

  test("a task scheduled over AMQP with reply_to and cancelled while scheduled replies once, cancelled, at once", async () => {
    const id = `amqp-${randomUUID()}`;
    const correlationId = randomUUID();
    await publish({ type: "echo", payload: {}, id, delayMs: 4000 }, { replyTo: amqp.replyQueue, correlationId });
    await waitForStatus(stack, id, ["scheduled"]);
    assert.equal((await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {})).status, 202);
    const cancelledAt = Date.now();
    const reply = await amqp.reply(correlationId);
    assert.ok(Date.now() - cancelledAt < 2000, "replied at the cancel, not at runAt");
    const replied = TaskRecordSchema.parse(JSON.parse(reply.content.toString()));
    assert.equal(replied.id, id);
    assert.equal(replied.status, "cancelled");
  });

  test("a scheduled task whose cancel did not send its reply gets it from the mover at its runAt", async () => {
    const id = `amqp-${randomUUID()}`;
    const correlationId = randomUUID();
    await publish({ type: "echo", payload: {}, id, delayMs: 1500 }, { replyTo: amqp.replyQueue, correlationId });
    await waitForStatus(stack, id, ["scheduled"]);
    // Cancelled in Redis only, as a web node that died before replying leaves it.
    const store = new TaskStore(stack.redis, redisKeys(stack.config.KEY_PREFIX), 100);
    await store.update(id, (cur) => nextRecord(cur, { type: "cancel", at: new Date().toISOString() }));
    const replied = TaskRecordSchema.parse(JSON.parse((await amqp.reply(correlationId)).content.toString()));
    assert.equal(replied.status, "cancelled");
  });

  test("a message whose runAt is past when a worker reads it (it waited in the queue) runs now", async () => {
    const id = `amqp-${randomUUID()}`;
    await publish({ type: "echo", payload: { late: true }, id, runAt: inMs(-60_000) });
    const done = await waitForStatus(stack, id, ["succeeded", "dead"]);
    assert.equal(done.status, "succeeded", `it is ${done.status}: ${done.error}`);
    assert.deepEqual(done.result, { late: true });
  });

  test("a second copy of a scheduling message read after its runAt never buries the task it already runs", async () => {
    const id = `amqp-${randomUUID()}`;
    const body = { type: "sleep", payload: { ms: 2500 }, id, runAt: inMs(800) };
    await publish(body);
    await waitForStatus(stack, id, ["running"], 10_000);
    await publish(body); // the publisher's retry (at least once), read now that runAt is past
    await publish({ ...body, delayMs: 500 }); // an unusable copy (both fields): requeued while the task runs, then dropped
    const done = await waitForStatus(stack, id, ["succeeded", "dead"], 15_000);
    assert.equal(done.status, "succeeded", `it is ${done.status}: ${done.error}`);
    assert.equal(done.attempts, 1);
  });
});

describe("an id used again after its scheduled task was cancelled and trimmed", () => {
  test("the new scheduled task runs at its own runAt; a copy for an existing record leaves its reply settings alone", async () => {
    const stack = await startStack({ workers: 1, env: { TASK_HISTORY_LIMIT: "1" } });
    const amqp = await openAmqpClient(stack);
    const keys = redisKeys(stack.config.KEY_PREFIX);
    const store = new TaskStore(stack.redis, keys, 1);
    try {
      const id = `reuse-${randomUUID()}`;
      await amqp.publish({ type: "echo", payload: { first: true }, id, runAt: inMs(2500) });
      await waitForStatus(stack, id, ["scheduled"]);
      assert.equal((await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {})).status, 202);
      // Two tasks finish after it: retention (1 kept) trims the cancelled record.
      for (let i = 0; i < 2; i++) await waitForStatus(stack, await submit(stack, { type: "echo", payload: { i } }), ["succeeded"]);
      assert.equal(await taskOf(stack, id), undefined, "the cancelled record was trimmed");
      await amqp.publish({ type: "echo", payload: { second: true }, id, runAt: inMs(5000) });
      const scheduled = await waitForStatus(stack, id, ["scheduled"]);
      // A copy with a reply_to racing the first for a record that exists now: neither its entry nor its reply settings are taken.
      const copy = newTaskRecord({ type: "submit", id, taskType: "echo", payload: { third: true }, priority: 0, at: new Date().toISOString(), runAt: inMs(60_000) });
      assert.equal(await store.createScheduled(copy, JSON.stringify({ replyTo: "elsewhere" })), undefined);
      assert.equal(await store.carriedProperties(id), null);
      assert.equal(Number(await stack.redis.zscore(keys.scheduled, id)), Date.parse(scheduled.runAt!));
      const { leftAt, record } = await watchLeavingScheduled(stack, id, 15_000);
      assert.ok(leftAt >= Date.parse(scheduled.runAt!), "not queued before its runAt");
      assert.equal(record.status === "queued" || record.status === "running" || record.status === "succeeded", true, record.status);
      assert.deepEqual((await waitForStatus(stack, id, ["succeeded"])).result, { second: true });
    } finally {
      await amqp.close();
      await stack.close();
    }
  });
});

describe("scheduling while RabbitMQ is unreachable", () => {
  test("a scheduled task, and a batch of only scheduled tasks, are accepted with Redis alone; a batch with one to run now is refused", async () => {
    const stack = await startStack({ webNodes: 0, workers: 0 });
    const rabbit = await FaultProxy.start(process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672");
    const node = await startWebNode(loadConfig({ ...stack.env, PORT: String(await freePort()), RABBITMQ_URL: rabbit.via(process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672") }), createLogger("test", "silent"));
    try {
      rabbit.blackhole();
      rabbit.cut();
      await eventually(async () => ((await api(node, "/healthz")).body.rabbitmq === "down" ? true : undefined), "the node to see RabbitMQ down");
      const one = await postJson(node, "/api/tasks", { type: "echo", payload: {}, delayMs: 60_000 });
      assert.equal(one.status, 202, JSON.stringify(one.body));
      const batch = await postJson(node, "/api/tasks/batch", { tasks: [{ type: "echo", delayMs: 60_000 }, { type: "echo", runAt: inMs(90_000) }] });
      assert.equal(batch.status, 202, JSON.stringify(batch.body));
      assert.deepEqual((batch.body as BatchAck).tasks.map((t) => t.status), ["scheduled", "scheduled"]);
      const mixed = await postJson(node, "/api/tasks/batch", { tasks: [{ type: "echo", delayMs: 60_000 }, { type: "echo" }] });
      assert.equal(mixed.status, 503, JSON.stringify(mixed.body));
    } finally {
      rabbit.restore();
      await node.close();
      await rabbit.close();
      await stack.close();
    }
  });
});
