// Retries, dead letters, operator actions, idempotency, priorities and retention, against the real brokers.
import assert from "node:assert/strict";
import { connect, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from "amqplib";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { isFinished, TaskRecordSchema, type TaskRecord, type TaskStatus } from "../../lib/contract";
import { createLogger } from "../../server/logger";
import { assertTopology, deadQueueName, migrationQueueName, REASON_HEADER, retryQueueName, topologyFor, workQueueArguments } from "../../server/queue/topology";
import { redisKeys } from "../../server/redis/keys";
import { TaskStore } from "../../server/store/task-store";
import { api, eventually, postJson, startStack, type Stack } from "../helpers/stack";
import { submit, taskOf, waitForStatus } from "../helpers/tasks";


describe("retries and dead letters", () => {
  let stack: Stack;
  let conn: ChannelModel;
  let ch: ConfirmChannel;
  let replyQueue: string;
  const replies: ConsumeMessage[] = [];

  before(async () => {
    stack = await startStack({ workers: 1 });
    conn = await connect(stack.config.RABBITMQ_URL);
    ch = await conn.createConfirmChannel();
    replyQueue = (await ch.assertQueue("", { exclusive: true })).queue;
    await ch.consume(replyQueue, (msg) => msg && replies.push(msg), { noAck: true });
  });
  after(async () => {
    await conn.close();
    await stack.close();
  });

  const deadQueueDepth = async () => (await ch.checkQueue(deadQueueName(stack.config.TASK_QUEUE))).messageCount;

  test("a failing attempt is retried by RabbitMQ on the declared backoff schedule, then succeeds", async () => {
    const socket = await stack.connectSocket();
    const seen: TaskRecord[] = [];
    socket.on("task:update", (record) => seen.push(record));
    const id = await submit(stack, { type: "flaky", payload: { failures: 2 } });
    const done = await waitForStatus(stack, id, ["succeeded"]);
    assert.deepEqual(done.result, { attempts: 3 });
    assert.equal(done.attempts, 3);
    assert.deepEqual(done.attemptLog.map((a) => a.outcome), ["error", "error", "succeeded"]);
    // flaky declares backoff 400 ms doubling: attempt 2 starts ≥ 400 ms after attempt 1 failed, attempt 3 ≥ 800 ms after attempt 2.
    const [a1, a2, a3] = done.attemptLog;
    const gap = (from: string, to: string) => Date.parse(to) - Date.parse(from);
    for (const [g, declared] of [[gap(a1.finishedAt!, a2.startedAt), 400], [gap(a2.finishedAt!, a3.startedAt), 800]] as const) {
      assert.ok(g >= declared - 20 && g < declared + 2000, `retry gap ${g} ms for a declared ${declared} ms`);
    }
    const retrying = seen.filter((r) => r.id === id && r.status === "retrying");
    assert.ok(retrying.length >= 2, "the tab saw the task retrying");
    assert.match(retrying[0].error!, /flaky failure 1 of 2/);
    assert.ok(retrying[0].nextAttemptAt && Date.parse(retrying[0].nextAttemptAt) > Date.parse(a1.startedAt));
    socket.disconnect();
  });

  test("a task that exhausts its attempts ends dead in the dead-letter queue with its reason and one reply", async () => {
    const id = `amqp-${randomUUID()}`;
    const correlationId = randomUUID();
    ch.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(JSON.stringify({ type: "flaky", payload: { failures: 10 }, id })), { persistent: true, replyTo: replyQueue, correlationId });
    await ch.waitForConfirms();
    const dead = await waitForStatus(stack, id, ["dead"]);
    assert.equal(dead.attempts, 4);
    assert.match(dead.error!, /Failed 4 of 4 attempts; last error: flaky failure 4 of 10/);
    const list = await api(stack.nodes[0], "/api/dead-letters");
    assert.ok((list.body.tasks as TaskRecord[]).some((t) => t.id === id));
    await eventually(async () => ((await deadQueueDepth()) === 1 ? true : undefined), "the message to be in the dead-letter queue");
    // Exactly one reply, for the final outcome, after every retry.
    const mine = await eventually(async () => {
      const found = replies.filter((r) => r.properties.correlationId === correlationId);
      return found.length > 0 ? found : undefined;
    }, "the reply");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(replies.filter((r) => r.properties.correlationId === correlationId).length, 1, "one reply only");
    assert.equal(TaskRecordSchema.parse(JSON.parse(mine[0].content.toString())).status, "dead");
  });

  test("an operator retries a dead task with an edited payload: it leaves the dead-letter queue and succeeds", async () => {
    const [dead] = (await api(stack.nodes[0], "/api/dead-letters")).body.tasks as TaskRecord[];
    assert.ok(dead, "the previous test left a dead task");
    const repliesBefore = replies.length;
    const bad = await postJson(stack.nodes[0], `/api/tasks/${dead.id}/retry`, { payload: { failures: "none" } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /Invalid payload for "flaky"/);
    const res = await postJson(stack.nodes[0], `/api/tasks/${dead.id}/retry`, { payload: { failures: 0 } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const done = await waitForStatus(stack, dead.id, ["succeeded"]);
    assert.equal(done.attempts, 1, "a fresh attempt count");
    assert.deepEqual(done.payload, { failures: 0 });
    assert.ok(done.retriedAt);
    assert.equal(await deadQueueDepth(), 0);
    assert.ok(!((await api(stack.nodes[0], "/api/dead-letters")).body.tasks as TaskRecord[]).some((t) => t.id === dead.id));
    // The message kept its reply_to, so the submitter hears the new final outcome.
    await eventually(async () => (replies.length > repliesBefore ? true : undefined), "the reply after the retry");
    const again = await postJson(stack.nodes[0], `/api/tasks/${dead.id}/retry`, {});
    assert.equal(again.status, 409);
    assert.match(again.body.error, /only dead, failed or cancelled tasks can be retried/);
  });

  test("an operator discards a dead task: it leaves the list and the queue, and its record stays", async () => {
    const id = await submit(stack, { type: "flaky", payload: { failures: 10 } });
    await waitForStatus(stack, id, ["dead"]);
    await eventually(async () => ((await deadQueueDepth()) === 1 ? true : undefined), "the dead message");
    const res = await postJson(stack.nodes[0], `/api/tasks/${id}/discard`, {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(await deadQueueDepth(), 0);
    const record = await taskOf(stack, id);
    assert.equal(record?.status, "dead");
    assert.ok(record?.discardedAt);
    assert.ok(!((await api(stack.nodes[0], "/api/dead-letters")).body.tasks as TaskRecord[]).some((t) => t.id === id));
    assert.equal((await postJson(stack.nodes[0], `/api/tasks/${id}/discard`, {})).status, 409);
    assert.equal((await postJson(stack.nodes[0], `/api/tasks/nope/discard`, {})).status, 404);
  });

  test("a retry still lands after its retry queue expired and was deleted by RabbitMQ", async () => {
    const first = await submit(stack, { type: "flaky", payload: { failures: 1 } });
    await waitForStatus(stack, first, ["succeeded"]);
    // What x-expires does a minute after the queue's last declaration.
    const probe = await conn.createChannel();
    await probe.deleteQueue(retryQueueName(stack.config.TASK_QUEUE, 400));
    await probe.close();
    const second = await submit(stack, { type: "flaky", payload: { failures: 1 } });
    assert.equal((await waitForStatus(stack, second, ["succeeded"])).attempts, 2);
  });

  test("a fail task fails at once without retries and is not a dead letter", async () => {
    const id = await submit(stack, { type: "fail", payload: { message: "no such user" } });
    const record = await waitForStatus(stack, id, ["failed"]);
    assert.equal(record.attempts, 1);
    assert.equal(record.error, "no such user");
    assert.equal(await deadQueueDepth(), 0);
  });

  test("a task that ends within 100 ms is written once, at its end, with its whole attempt; a longer one is shown running first", async () => {
    const quick = await submit(stack, { type: "echo", payload: { quick: true } });
    const done = await waitForStatus(stack, quick, ["succeeded"]);
    // Created (1), claimed by the worker's read (2: the claim alone, see TaskStore.claim) and finished (3): the
    // record itself is written once, at the end.
    assert.equal(done.version, 3);
    assert.equal(done.attempts, 1);
    assert.equal(done.attemptLog.length, 1);
    const [attempt] = done.attemptLog;
    assert.equal(attempt.outcome, "succeeded");
    assert.equal(attempt.worker, done.worker);
    assert.ok(Date.parse(attempt.startedAt) <= Date.parse(attempt.finishedAt!));
    const slow = await submit(stack, { type: "sleep", payload: { ms: 1500 } });
    const running = await waitForStatus(stack, slow, ["running"]);
    assert.equal(running.attemptLog.at(-1)?.outcome, "running");
    assert.equal((await waitForStatus(stack, slow, ["succeeded"])).attempts, 1);
  });
});

describe("cancellation", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 1, env: { WORKER_CONCURRENCY: "1" } });
  });
  after(() => stack.close());

  test("a running task's handler is aborted, and a queued one is skipped when it is delivered", async () => {
    const running = await submit(stack, { type: "sleep", payload: { ms: 30_000 } });
    await waitForStatus(stack, running, ["running"]);
    const queued = await submit(stack, { type: "echo", payload: { never: true } });
    const cancelQueued = await postJson(stack.nodes[0], `/api/tasks/${queued}/cancel`, {});
    assert.equal(cancelQueued.status, 202);
    assert.equal(cancelQueued.body.status, "cancelled");
    const cancelRunning = await postJson(stack.nodes[0], `/api/tasks/${running}/cancel`, {});
    assert.equal(cancelRunning.status, 202);
    const stopped = await waitForStatus(stack, running, ["cancelled"], 5000);
    assert.equal(stopped.attemptLog.at(-1)?.outcome, "cancelled");
    // The worker is free again: it takes the cancelled message, skips it, and runs the next task.
    const next = await submit(stack, { type: "echo", payload: { after: true } });
    await waitForStatus(stack, next, ["succeeded"]);
    const skipped = await taskOf(stack, queued);
    assert.equal(skipped?.status, "cancelled");
    assert.equal(skipped?.attempts, 0, "never run");
    const again = await postJson(stack.nodes[0], `/api/tasks/${queued}/cancel`, {});
    assert.equal(again.status, 409);
    assert.match(again.body.error, /is cancelled; only scheduled, queued, running, retrying or stalled tasks can be cancelled/);
  });

  test("a cancelled task can be retried and then runs", async () => {
    const id = await submit(stack, { type: "sleep", payload: { ms: 30_000 } });
    await waitForStatus(stack, id, ["running"]);
    await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {});
    await waitForStatus(stack, id, ["cancelled"]);
    assert.equal((await postJson(stack.nodes[0], `/api/tasks/${id}/retry`, { payload: { ms: 10 } })).status, 202);
    assert.equal((await waitForStatus(stack, id, ["succeeded"])).attempts, 1);
  });
});

describe("submission options", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 0 });
  });
  after(() => stack.close());

  test("a repeated Idempotency-Key returns the same task and queues nothing new", async () => {
    const key = randomUUID();
    const send = (body: object) => api(stack.nodes[0], "/api/tasks", { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": key }, body: JSON.stringify(body) });
    const first = await send({ type: "echo", payload: { n: 1 } });
    assert.equal(first.status, 202);
    const repeats = await Promise.all([send({ type: "echo", payload: { n: 1 } }), send({ type: "echo", payload: { n: 1 } })]);
    for (const r of repeats) {
      assert.equal(r.status, 200);
      assert.equal(r.body.id, first.body.id);
    }
    const other = await send({ type: "echo", payload: { n: 2 } });
    assert.equal(other.status, 422);
    assert.match(other.body.error, /already used for a different task/);
    const { body } = await api(stack.nodes[0], "/api/queue");
    assert.equal(body.ready, 1, "one message queued");
    assert.equal(((await api(stack.nodes[0], "/api/tasks")).body.tasks as TaskRecord[]).length, 1);
    const tooLong = await api(stack.nodes[0], "/api/tasks", { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": "k".repeat(201) }, body: "{\"type\":\"echo\"}" });
    assert.equal(tooLong.status, 400);
  });

  test("a higher priority task is taken before the lower ones queued before it", async () => {
    const low = [];
    for (let i = 0; i < 5; i++) low.push(await submit(stack, { type: "echo", payload: { i }, priority: 0 }));
    const high = await submit(stack, { type: "echo", payload: { urgent: true }, priority: 9 });
    const bad = await postJson(stack.nodes[0], "/api/tasks", { type: "echo", priority: 10 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /priority must be from 0 to 9/);
    await stack.addWorker({ WORKER_CONCURRENCY: "1" });
    const all = await Promise.all([high, ...low].map((id) => waitForStatus(stack, id, ["succeeded"])));
    const firstStarted = all.sort((a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!))[0];
    assert.equal(firstStarted.id, high);
    assert.equal(firstStarted.priority, 9);
  });
});

describe("task history retention", () => {
  test("only the newest finished records are kept; queued tasks and dead letters are never trimmed", async () => {
    const stack = await startStack({ workers: 0 });
    try {
      const store = new TaskStore(stack.redis, redisKeys(stack.config.KEY_PREFIX), 5);
      const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
      const make = (id: string, status: TaskStatus, i: number): TaskRecord => ({
        id, type: "echo", payload: {}, status, progress: 0, priority: 0, attempts: 0, attemptLog: [], createdAt: at(i), version: 0,
        ...(isFinished(status) ? { finishedAt: at(i + 100) } : {}),
      });
      await store.create(make("old-queued", "queued", 0));
      await store.create(make("old-dead", "dead", 1));
      for (let i = 0; i < 12; i++) await store.create(make(`done-${i}`, "succeeded", 10 + i));
      const succeeded = await store.list({ status: "succeeded", limit: 100 });
      assert.deepEqual(succeeded.map((t) => t.id), ["done-11", "done-10", "done-9", "done-8", "done-7"]);
      assert.ok(await store.get("old-queued"), "the queued task stays");
      assert.ok(await store.get("old-dead"), "the dead letter stays");
      assert.equal(await store.get("done-0"), undefined);
      assert.equal(await stack.redis.exists(`${stack.config.KEY_PREFIX}:task:done-0`), 0, "the trimmed record's key is gone");
      // Once finished, the queued task becomes the oldest finished one and is trimmed in turn.
      await store.update("old-queued", (t) => ({ ...t, status: "succeeded", finishedAt: at(0) }));
      assert.equal(await store.get("old-queued"), undefined);
      assert.equal((await store.counts()).succeeded, 5);
    } finally {
      await stack.close();
    }
  });
});

describe("quorum queues", () => {
  test("with TASK_QUEUE_TYPE=quorum tasks run, retry and go dead the same way", async () => {
    const stack = await startStack({ workers: 1, env: { TASK_QUEUE_TYPE: "quorum" } });
    try {
      const ok = await submit(stack, { type: "flaky", payload: { failures: 1 } });
      const dead = await submit(stack, { type: "flaky", payload: { failures: 10 } });
      assert.equal((await waitForStatus(stack, ok, ["succeeded"])).attempts, 2);
      assert.equal((await waitForStatus(stack, dead, ["dead"])).attempts, 4);
      const conn = await connect(stack.config.RABBITMQ_URL);
      const ch = await conn.createChannel();
      const message = await eventually(async () => (await ch.get(deadQueueName(stack.config.TASK_QUEUE), { noAck: true })) || undefined, "the dead message");
      assert.equal(message.properties.messageId, dead);
      assert.match(String(message.properties.headers?.[REASON_HEADER]), /Failed 4 of 4 attempts/);
      await conn.close();
    } finally {
      await stack.close();
    }
  });
});

describe("queue topology", () => {
  const url = process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672";
  const log = createLogger("test", "silent");
  const topology = (name: string) => topologyFor({ TASK_QUEUE: name, TASK_QUEUE_TYPE: "classic", TASK_DELIVERY_LIMIT: 10 });
  let conn: ChannelModel;
  const names: string[] = [];
  const fresh = () => {
    const name = `test-old-${randomUUID().slice(0, 8)}`;
    names.push(name, deadQueueName(name), migrationQueueName(name));
    return name;
  };
  /** Declaring with the current arguments succeeds only if the queue has them. */
  const hasCurrentArguments = async (name: string) => {
    const ch = await conn.createChannel();
    ch.on("error", () => undefined);
    try {
      await ch.assertQueue(name, { durable: true, arguments: workQueueArguments(topology(name)) });
      return true;
    } catch {
      return false;
    } finally {
      await ch.close().catch(() => undefined);
    }
  };
  const drain = async (name: string) => {
    const ch = await conn.createChannel();
    const got: import("amqplib").GetMessage[] = [];
    for (let m = await ch.get(name, { noAck: true }); m; m = await ch.get(name, { noAck: true })) got.push(m);
    await ch.close();
    return got;
  };
  before(async () => {
    conn = await connect(url);
  });
  after(async () => {
    const ch = await conn.createChannel();
    for (const name of names) await ch.deleteQueue(name);
    await conn.close();
  });

  test("a task queue left with old arguments is migrated with its messages, in order", async () => {
    const empty = fresh();
    const full = fresh();
    const ch = await conn.createConfirmChannel();
    for (const name of [empty, full]) await ch.assertQueue(name, { durable: true });
    for (let i = 0; i < 3; i++) ch.sendToQueue(full, Buffer.from(JSON.stringify({ type: "echo", payload: { i } })), { persistent: true, messageId: `m${i}`, replyTo: "replies" });
    await ch.waitForConfirms();
    await ch.close();
    await assertTopology(conn, topology(empty), log);
    assert.ok(await hasCurrentArguments(empty));
    await assertTopology(conn, topology(full), log);
    assert.ok(await hasCurrentArguments(full));
    const moved = await drain(full);
    assert.deepEqual(moved.map((m) => m.properties.messageId), ["m0", "m1", "m2"]);
    assert.equal(moved[0].properties.replyTo, "replies");
    assert.equal(moved[0].properties.deliveryMode, 2, "still persistent");
    const probe = await conn.createChannel();
    probe.on("error", () => undefined);
    await assert.rejects(probe.checkQueue(migrationQueueName(full)), /NOT_FOUND/, "the migration queue is gone");
  });

  test("a migration cut short is finished by the next start", async () => {
    const name = fresh();
    await assertTopology(conn, topology(name), log);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(migrationQueueName(name), { durable: true });
    ch.sendToQueue(migrationQueueName(name), Buffer.from("{}"), { persistent: true, messageId: "left-behind" });
    await ch.waitForConfirms();
    await ch.close();
    await assertTopology(conn, topology(name), log);
    assert.deepEqual((await drain(name)).map((m) => m.properties.messageId), ["left-behind"]);
  });

  const quorum = (name: string) => topologyFor({ TASK_QUEUE: name, TASK_QUEUE_TYPE: "quorum", TASK_DELIVERY_LIMIT: 10 });
  const fill = async (queue: string, count: number, prefix: string) => {
    const ch = await conn.createConfirmChannel();
    for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from("{}"), { persistent: true, messageId: `${prefix}${i}` });
    await ch.waitForConfirms();
    await ch.close();
  };

  test("a classic to quorum switch migrates the dead-letter queue too, with its messages", async () => {
    const name = fresh();
    await assertTopology(conn, topology(name), log);
    await fill(deadQueueName(name), 3, "dead-");
    await fill(name, 2, "work-");
    await assertTopology(conn, quorum(name), log);
    assert.deepEqual((await drain(deadQueueName(name))).map((m) => m.properties.messageId), ["dead-0", "dead-1", "dead-2"]);
    assert.deepEqual((await drain(name)).map((m) => m.properties.messageId).sort(), ["work-0", "work-1"]);
  });

  test("a quorum to classic switch back migrates both queues too", async () => {
    const name = fresh();
    await assertTopology(conn, quorum(name), log);
    await fill(deadQueueName(name), 2, "dead-");
    await fill(name, 2, "work-");
    await assertTopology(conn, topology(name), log);
    assert.ok(await hasCurrentArguments(name));
    assert.deepEqual((await drain(deadQueueName(name))).map((m) => m.properties.messageId), ["dead-0", "dead-1"]);
    assert.deepEqual((await drain(name)).map((m) => m.properties.messageId).sort(), ["work-0", "work-1"]);
  });

  test("a TASK_MAX_PRIORITY change (9, off, 3) migrates the work queue with its messages, and the queue honours it", async () => {
    const name = fresh();
    const withPriority = (max: number) => topologyFor({ TASK_QUEUE: name, TASK_QUEUE_TYPE: "classic", TASK_DELIVERY_LIMIT: 10, TASK_MAX_PRIORITY: max });
    await assertTopology(conn, withPriority(9), log);
    await fill(name, 2, "a-");
    await assertTopology(conn, withPriority(0), log);
    assert.deepEqual(workQueueArguments(withPriority(0))["x-max-priority"], undefined);
    assert.deepEqual((await drain(name)).map((m) => m.properties.messageId), ["a-0", "a-1"]);
    await assertTopology(conn, withPriority(3), log);
    // With priorities on again, a later message of priority 3 (or more, counted as 3) is delivered first.
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(name, Buffer.from("{}"), { persistent: true, messageId: "low", priority: 0 });
    ch.sendToQueue(name, Buffer.from("{}"), { persistent: true, messageId: "high", priority: 9 });
    await ch.waitForConfirms();
    await ch.close();
    assert.deepEqual((await drain(name)).map((m) => m.properties.messageId), ["high", "low"]);
  });

  test("several processes starting at once after a queue type change migrate once, and lose nothing", async () => {
    const name = fresh();
    await assertTopology(conn, topology(name), log);
    await fill(name, 300, "m");
    const others = await Promise.all([connect(url), connect(url), connect(url)]);
    try {
      await Promise.all(others.map((c) => assertTopology(c, quorum(name), log)));
    } finally {
      await Promise.all(others.map((c) => c.close()));
    }
    const left = (await drain(name)).map((m) => m.properties.messageId);
    assert.equal(new Set(left).size, 300, `${left.length} messages, ${new Set(left).size} distinct`);
  });

  test("an old queue that still has consumers is left alone, and the error says to stop the old workers", async () => {
    const name = fresh();
    const ch = await conn.createChannel();
    await ch.assertQueue(name, { durable: true });
    const { consumerTag } = await ch.consume(name, () => undefined);
    await assert.rejects(assertTopology(conn, topology(name), log), /exists with other arguments.*1 consumers are still attached\. Stop the old workers/);
    await ch.cancel(consumerTag);
    await ch.close();
  });
});
