// The documented guarantees at their worst interleavings, reached on purpose: a test hook where only an
// in-process pause can hit the window, against the real RabbitMQ and Redis.
import assert from "node:assert/strict";
import { connect, type ChannelModel, type ConsumeMessage, type GetMessage } from "amqplib";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import type { TaskRecord } from "../../lib/contract";
import { isDeadLetter, newTaskRecord, nextRecord, type TaskEvent } from "../../lib/task-lifecycle";
import { CancelRequests } from "../../server/lifecycle/cancel-requests";
import { cancelledByOperator, TaskRunner, type TaskRunnerDeps } from "../../server/lifecycle/task-runner";
import { connectAmqp, type AmqpConnection } from "../../server/queue/amqp";
import { DeadLetterQueue } from "../../server/queue/dead-letters";
import { ConfirmPublisher } from "../../server/queue/publisher";
import { RUN_HEADER } from "../../server/queue/task-message";
import { topologyFor } from "../../server/queue/topology";
import { redisKeys } from "../../server/redis/keys";
import { hash, IdempotencyKeys, PENDING_TTL_SECONDS } from "../../server/store/idempotency";
import { TaskStore } from "../../server/store/task-store";
import { WorkerDirectory } from "../../server/store/worker-directory";
import { unavailable } from "../../server/errors";
import { defineTask, type TaskDefinition } from "../../server/tasks/define-task";
import { taskTypes } from "../../server/tasks/registry";
import { z } from "zod";
import type { WebNodeList } from "../../lib/insights";
import { FaultProxy } from "../helpers/fault-proxy";
import { spawnWebNode, type ChildWebNode } from "../helpers/processes";
import { stackWithProxiedWebNode, stackWithProxiedWorker } from "../helpers/proxied-stack";
import { api, eventually, postJson, startStack, type Stack } from "../helpers/stack";
import { submit, taskOf, waitForStatus } from "../helpers/tasks";

const log = pino({ level: "silent" });

/** A delivery as amqplib hands it to a consumer. */
function delivery(content: string, messageId: string, redelivered = false, rpc: { replyTo?: string; correlationId?: string } = {}): ConsumeMessage {
  return {
    content: Buffer.from(content),
    fields: { deliveryTag: 1, redelivered, exchange: "", routingKey: "", consumerTag: "test" },
    properties: { messageId, headers: {}, contentType: undefined, contentEncoding: undefined, deliveryMode: 2, priority: undefined, correlationId: rpc.correlationId, replyTo: rpc.replyTo, expiration: undefined, timestamp: undefined, type: undefined, userId: undefined, appId: undefined, clusterId: undefined },
  } as ConsumeMessage;
}

/** The task store of a test stack (its own key prefix). */
const storeOf = (stack: Stack) => new TaskStore(stack.redis, redisKeys(stack.config.KEY_PREFIX), 1000);

/** A runner over the real task store; no retry, dead letter or reply unless a test gives one. */
function testRunner(store: TaskStore, workerId: string, deps: Partial<TaskRunnerDeps> = {}): TaskRunner {
  return new TaskRunner({
    store,
    publisher: { publishRetry: async () => assert.fail("no retry here"), publishDead: async () => assert.fail("no dead letter here") },
    publish: () => undefined,
    reply: async () => undefined,
    heldElsewhere: async () => false,
    removeDeadCopy: async () => undefined,
    workerId,
    log,
    ...deps,
  });
}

/**
 * The task store with its worker's read (the claim) held after it is made: `claimed` resolves once it is, and the
 * read returns when the test calls `resume`.
 */
function pausedAtClaim(store: TaskStore): { paused: TaskStore; claimed: Promise<void>; resume: () => void } {
  let onClaimed = () => undefined as void;
  const claimed = new Promise<void>((resolve) => (onClaimed = resolve));
  let release = () => undefined as void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const paused = Object.create(store) as TaskStore;
  paused.claim = async (id, claim) => {
    const record = await store.claim(id, claim);
    onClaimed();
    await held;
    return record;
  };
  return { paused, claimed, resume: release };
}

describe("a dead task's message is in the dead-letter queue whenever its record says dead", () => {
  let stack: Stack;
  let amqp: AmqpConnection;
  let inspect: ChannelModel;
  let store: TaskStore;
  let publisher: ConfirmPublisher;

  before(async () => {
    stack = await startStack({ workers: 0 });
    const topology = topologyFor(stack.config);
    publisher = new ConfirmPublisher(() => amqp, topology, log);
    amqp = await connectAmqp({ url: stack.config.RABBITMQ_URL, name: "guarantees-test", log, setup: (model) => publisher.setup(model) });
    inspect = await connect(stack.config.RABBITMQ_URL);
    store = storeOf(stack);
  });
  after(async () => {
    await inspect.close();
    await amqp.close();
    await stack.close();
  });

  /** Every message in the dead-letter queue, left there. */
  async function deadLetters(): Promise<GetMessage[]> {
    const channel = await inspect.createChannel();
    const found: GetMessage[] = [];
    try {
      for (;;) {
        const message = await channel.get(`${stack.config.TASK_QUEUE}.dead`, { noAck: false });
        if (message === false) return found;
        found.push(message);
      }
    } finally {
      await channel.close(); // hands every message back
    }
  }

  async function assertInvariant(id: string): Promise<TaskRecord | undefined> {
    const record = await store.get(id);
    if (record && isDeadLetter(record)) {
      const copies = (await deadLetters()).filter((m) => m.properties.messageId === id);
      assert.ok(copies.length > 0, `task ${id} is recorded dead, but its message is not in the dead-letter queue`);
    }
    return record;
  }

  test("a RabbitMQ blip while the dead-letter copy is published leaves the task undead; its redelivery buries it, once", async () => {
    const id = `blip-${randomUUID()}`;
    let blips = 1;
    const runner = testRunner(store, "test-worker", {
      publisher: {
        publishRetry: (...args) => publisher.publishRetry(...args),
        publishDead: async (...args) => {
          if (blips-- > 0) throw unavailable("RabbitMQ did not confirm the message in time (a blip injected by the test)");
          return publisher.publishDead(...args);
        },
      },
      removeDeadCopy: async () => assert.fail("no copy is surplus here"),
    });

    // Not JSON: the body exists nowhere but in this message; losing the dead-letter copy loses it for good.
    await assert.rejects(runner.run(delivery("<xml>not json</xml>", id)), /blip injected/);
    const afterBlip = await assertInvariant(id);
    assert.notEqual(afterBlip?.status, "dead", "the record must not say dead before the copy is confirmed");

    // RabbitMQ hands the unacked delivery back.
    assert.equal(await runner.run(delivery("<xml>not json</xml>", id, true)), "ack");
    const buried = await assertInvariant(id);
    assert.equal(buried?.status, "dead");
    const copies = (await deadLetters()).filter((m) => m.properties.messageId === id);
    assert.equal(copies.length, 1);
    assert.equal(copies[0].content.toString(), "<xml>not json</xml>");
  });

  test("a redelivery that buried a task twice leaves two copies; an operator's discard removes both, a surplus removal one", async () => {
    const id = `twice-${randomUUID()}`;
    const other = `other-${randomUUID()}`;
    for (const messageId of [id, other, id, id]) await publisher.publishDead(Buffer.from("{}"), { messageId, headers: {} });
    const queue = new DeadLetterQueue(topologyFor(stack.config), log);
    assert.equal(await queue.remove(amqp.current(), id, { oneCopy: true }), true);
    assert.equal((await deadLetters()).filter((m) => m.properties.messageId === id).length, 2);
    assert.equal(await queue.remove(amqp.current(), id), true);
    const left = await deadLetters();
    assert.deepEqual(left.map((m) => m.properties.messageId).filter((m) => m === id || m === other), [other], "every copy of the discarded task went, the other task's stayed");
    assert.equal(await queue.remove(amqp.current(), id), false);
  });
});

describe("a cancelled task never runs, however much history turns over while its message waits", () => {
  let stack: Stack;
  before(async () => {
    // Two finished records kept: cancelling four waiting tasks would trim the first one's record.
    stack = await startStack({ workers: 0, env: { TASK_HISTORY_LIMIT: "2" } });
  });
  after(() => stack.close());

  test("four queued tasks cancelled past the history limit, then a worker: none of them runs", async () => {
    const seen = new Map<string, string[]>();
    await stack.connectSocket(stack.nodes[0], {}, (socket) => socket.on("task:update", (t) => seen.set(t.id, [...(seen.get(t.id) ?? []), t.status])));
    const cancelled: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await submit(stack, { type: "echo", payload: { i } });
      assert.equal((await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {})).status, 202);
      cancelled.push(id);
    }
    const last = await submit(stack, { type: "echo", payload: { last: true } });
    // One delivery at a time, in order: once the last task succeeded, every cancelled one was delivered before it.
    await stack.addWorker({ WORKER_CONCURRENCY: "1" });
    await waitForStatus(stack, last, ["succeeded"]);
    for (const id of cancelled) {
      const statuses = seen.get(id) ?? [];
      assert.ok(!statuses.includes("running") && !statuses.includes("succeeded"), `cancelled task ${id} ran: ${statuses.join(" → ")}`);
      const record = await taskOf(stack, id);
      assert.ok(record === undefined || (record.status === "cancelled" && record.attempts === 0), `task ${id}: ${JSON.stringify(record)}`);
    }
  });
});

describe("a task cancelled in its first 100 ms, before it is recorded running, is cancelled as the running task it is", () => {
  let stack: Stack;
  const types = taskTypes as Map<string, TaskDefinition>;
  const gate = { started: () => undefined as void, release: () => undefined as void, signal: undefined as AbortSignal | undefined };
  before(async () => {
    stack = await startStack({ workers: 0 });
    types.set(
      "test-gated",
      defineTask({
        name: "test-gated",
        description: "test: runs until the test opens its gate, ignoring its abort",
        example: {},
        payload: z.strictObject({}),
        retry: { maxAttempts: 1 },
        run: async (_payload, ctx) => {
          gate.signal = ctx.signal;
          gate.started();
          await new Promise<void>((resolve) => (gate.release = resolve));
          return { ran: true };
        },
      }) as unknown as TaskDefinition,
    );
    types.set(
      "test-throws",
      defineTask({
        name: "test-throws",
        description: "test: fails at once, retryably",
        example: {},
        payload: z.strictObject({}),
        retry: { maxAttempts: 3 },
        run: async () => {
          throw new Error("failed quickly (the test)");
        },
      }) as unknown as TaskDefinition,
    );
  });
  after(async () => {
    types.delete("test-gated");
    types.delete("test-throws");
    await stack.close();
  });

  test("the cancel answers running with cancelRequested, the handler is aborted, and the record counts the attempt", async () => {
    const store = storeOf(stack);
    const runner = testRunner(store, "w-gated");
    const subscriber = stack.redis.duplicate();
    await CancelRequests.listen(subscriber, redisKeys(stack.config.KEY_PREFIX), log, (taskId) => void runner.abort(taskId, cancelledByOperator()));
    try {
      const id = await submit(stack, { type: "test-gated", payload: {} });
      const started = new Promise<void>((resolve) => (gate.started = resolve));
      const outcome = runner.run(delivery(JSON.stringify({ id, type: "test-gated", payload: {} }), id));
      await started;
      // The handler runs; its attempt is not written yet (it has run for less than 100 ms).
      const cancel = await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {});
      assert.equal(cancel.status, 202);
      assert.equal(cancel.body.status, "running", `while its handler ran, the cancel answered ${JSON.stringify(cancel.body)}`);
      assert.equal((await store.get(id))?.cancelRequested, true);
      await eventually(async () => (gate.signal?.aborted ? true : undefined), "the worker to abort the handler");
      gate.release();
      assert.equal(await outcome, "ack");
      const record = await store.get(id);
      assert.equal(record?.status, "cancelled");
      assert.equal(record?.attempts, 1, "the attempt that ran is counted");
      assert.equal(record?.attemptLog.at(-1)?.outcome, "cancelled");
    } finally {
      gate.release();
      subscriber.disconnect();
    }
  });

  test("a task that failed quickly and waits to retry is cancelled at once: its written attempt's claim is spent", async () => {
    const store = storeOf(stack);
    const retries: string[] = [];
    const runner = testRunner(store, "w-quick-fail", { publisher: { publishRetry: async () => void retries.push("retry"), publishDead: async () => assert.fail("not dead") } });
    const id = await submit(stack, { type: "test-throws", payload: {} });
    assert.equal(await runner.run(delivery(JSON.stringify({ id, type: "test-throws", payload: {} }), id)), "ack");
    assert.equal((await store.get(id))?.status, "retrying");
    assert.equal((await store.get(id))?.claim, undefined, "the claim went with the attempt's write");
    const cancel = await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {});
    assert.equal(cancel.body.status, "cancelled", JSON.stringify(cancel.body));
  });

  test("a claimed task whose worker died, then cancelled, ends cancelled when its message comes back, not dead", async () => {
    const store = storeOf(stack);
    const id = await submit(stack, { type: "test-gated", payload: {} });
    // A worker read and claimed it, then died before writing anything.
    await store.claim(id, { worker: "w-died", startedAt: new Date().toISOString(), maxAttempts: 1, run: 1 });
    const cancel = await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {});
    assert.equal(cancel.body.status, "running");
    let handlerRan = false;
    gate.started = () => void (handlerRan = true);
    const runner = testRunner(store, "w-next", { publisher: { publishRetry: async () => assert.fail("no retry"), publishDead: async () => assert.fail("a cancelled task is not buried") } });
    assert.equal(await runner.run(delivery(JSON.stringify({ id, type: "test-gated", payload: {} }), id, true)), "ack");
    assert.equal(handlerRan, false);
    assert.equal((await store.get(id))?.status, "cancelled");
  });

  test("a second delivery of a task this worker is starting is requeued, not run beside it", async () => {
    const store = storeOf(stack);
    const { paused, claimed, resume } = pausedAtClaim(store);
    const runner = testRunner(paused, "w-dup");
    let started = 0;
    gate.started = () => void started++;
    const id = await submit(stack, { type: "test-gated", payload: {} });
    const body = JSON.stringify({ id, type: "test-gated", payload: {} });
    const first = runner.run(delivery(body, id));
    await claimed;
    try {
      assert.equal(await runner.run(delivery(body, id, true)), "requeue");
      assert.equal(started, 0);
    } finally {
      resume();
      await eventually(async () => (started === 1 ? true : undefined), "the first delivery's handler to start");
      gate.release();
    }
    assert.equal(await first, "ack");
  });

  test("a delivery of an earlier run does not replace the claim of the run being started", async () => {
    const store = storeOf(stack);
    const id = await submit(stack, { type: "test-gated", payload: {} });
    const current = { worker: "w-run2", startedAt: new Date().toISOString(), maxAttempts: 1, run: 2 };
    await store.claim(id, current);
    await store.claim(id, { worker: "w-old-message", startedAt: new Date().toISOString(), maxAttempts: 1, run: 1 });
    assert.deepEqual((await store.get(id))?.claim, current);
  });

  test("a cancel heard between the claim and the handler's start stops the attempt before its handler runs", async () => {
    const store = storeOf(stack);
    // The worker's read of the record (its claim) is held until the cancel has been answered and heard.
    const { paused, claimed, resume } = pausedAtClaim(store);
    const runner = testRunner(paused, "w-gated-early");
    const heard: string[] = [];
    const subscriber = stack.redis.duplicate();
    await CancelRequests.listen(subscriber, redisKeys(stack.config.KEY_PREFIX), log, (taskId) => {
      heard.push(taskId);
      runner.abort(taskId, cancelledByOperator());
    });
    let handlerRan = false;
    gate.started = () => void (handlerRan = true);
    try {
      const id = await submit(stack, { type: "test-gated", payload: {} });
      const outcome = runner.run(delivery(JSON.stringify({ id, type: "test-gated", payload: {} }), id));
      await claimed;
      const cancel = await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {});
      assert.equal(cancel.body.status, "running", `after the worker's claim, the cancel answered ${JSON.stringify(cancel.body)}`);
      await eventually(async () => (heard.includes(id) ? true : undefined), "the worker to hear the cancel");
      resume();
      assert.equal(await outcome, "ack");
      assert.equal(handlerRan, false, "the handler ran after its cancel was heard");
      const record = await store.get(id);
      assert.equal(record?.status, "cancelled");
      assert.equal(record?.attemptLog.at(-1)?.outcome, "cancelled");
    } finally {
      resume();
      gate.release();
      subscriber.disconnect();
    }
  });
});

describe("an Idempotency-Key replays only a task RabbitMQ confirmed, and a 503 after the confirm timeout keeps the task tracked", () => {
  const fixture = stackWithProxiedWebNode();

  const post = (body: object, key: string) => api(fixture.stack.nodes[0], "/api/tasks", { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": key }, body: JSON.stringify(body) });

  test("a replay while the first request waits for its confirm answers 409; a late confirm makes the key replay that task, which runs once", async () => {
    const { stack, proxy } = fixture;
    const key = `late-confirm-${randomUUID()}`;
    const marker = randomUUID();
    const body = { type: "echo", payload: { marker } };
    proxy.blackhole(); // RabbitMQ's confirms stop reaching the web node
    const first = post(body, key);
    const record = await eventually(async () => {
      const { body: list } = await api(stack.nodes[0], "/api/tasks?limit=50");
      return (list.tasks as TaskRecord[]).find((t) => (t.payload as { marker?: string }).marker === marker);
    }, "the first request's record");

    const replay = await post(body, key);
    assert.equal(replay.status, 409, `a replay before the confirm: ${JSON.stringify(replay.body)}`);
    assert.match(replay.body.error, /still waiting for RabbitMQ's confirm/);

    const refused = await first;
    assert.equal(refused.status, 503);
    assert.match(refused.body.error, /may still be queued/);
    assert.equal((await taskOf(stack, record.id))?.status, "queued", "the task stays tracked");

    proxy.restore(); // the held publish reaches RabbitMQ, which confirms it
    const ran = await waitForStatus(stack, record.id, ["succeeded"]);
    assert.deepEqual(ran.result, { marker });
    const again = await eventually(async () => {
      const res = await post(body, key);
      return res.status === 200 ? res : undefined;
    }, "the key to replay the confirmed task");
    assert.equal(again.body.id, record.id);
    const { body: list } = await api(stack.nodes[0], "/api/tasks?limit=100");
    assert.equal((list.tasks as TaskRecord[]).filter((t) => (t.payload as { marker?: string }).marker === marker).length, 1, "one task, run once");
  });

  test("a key whose web node died before the confirm frees itself within a minute, not a day", async () => {
    const { stack } = fixture;
    const keys = new IdempotencyKeys(stack.redis, redisKeys(stack.config.KEY_PREFIX));
    const key = `crashed-${randomUUID()}`;
    const taskId = randomUUID();
    assert.deepEqual(await keys.reserve(key, "fingerprint", taskId), { reserved: true });
    // The node dies here: nobody confirms or releases the claim.
    const ttl = await stack.redis.ttl(redisKeys(stack.config.KEY_PREFIX).idempotency(hash(key)));
    assert.ok(ttl > 0 && ttl <= PENDING_TTL_SECONDS, `the pending claim lives ${ttl} s`);
    assert.equal(await keys.state(key, taskId), "pending");
    await keys.confirm(key, taskId);
    assert.ok((await stack.redis.ttl(redisKeys(stack.config.KEY_PREFIX).idempotency(hash(key)))) > PENDING_TTL_SECONDS, "a confirmed claim lives a day");
    await keys.extend(key, taskId);
    assert.equal(await keys.state(key, taskId), "confirmed", "a late extend does not undo a confirm");
    await keys.release(key, "someone-else");
    assert.equal(await keys.state(key, taskId), "confirmed", "only the claim's own task releases it");
  });
});

describe("a task with a reply_to gets exactly one reply", () => {
  let stack: Stack;
  let store: TaskStore;
  before(async () => {
    stack = await startStack({ workers: 0 });
    store = storeOf(stack);
  });
  after(() => stack.close());

  /** A runner whose replies the test counts; `failures` replies fail first (RabbitMQ did not confirm them). */
  function runner(workerId: string, replies: TaskRecord[], failures = 0): TaskRunner {
    return testRunner(store, workerId, {
      reply: async (_replyTo, _correlationId, record) => {
        if (failures-- > 0) throw unavailable("RabbitMQ did not confirm the reply (injected by the test)");
        replies.push(record);
      },
    });
  }
  const rpc = { replyTo: "amq.rabbitmq.reply-to", correlationId: "c-1" };

  test("a reply that could not be published is sent by the redelivery, once", async () => {
    const id = `reply-lost-${randomUUID()}`;
    const replies: TaskRecord[] = [];
    const worker = runner("w1", replies, 1);
    const body = JSON.stringify({ type: "echo", payload: { n: 1 }, id });
    await assert.rejects(worker.run(delivery(body, id, false, rpc)), /injected by the test/);
    assert.equal((await store.get(id))?.status, "succeeded");
    assert.equal(await worker.run(delivery(body, id, true, rpc)), "ack");
    assert.equal(await worker.run(delivery(body, id, true, rpc)), "ack");
    assert.deepEqual(replies.map((r) => [r.id, r.status]), [[id, "succeeded"]]);
    assert.equal(replies[0].reply, undefined, "the reply carries the record, not the reply bookkeeping");
  });

  test("two deliveries of one task running at once send one reply between them", async () => {
    const id = `reply-twice-${randomUUID()}`;
    const replies: TaskRecord[] = [];
    const body = JSON.stringify({ type: "sleep", payload: { ms: 150 }, id });
    const outcomes = await Promise.all([runner("w1", replies).run(delivery(body, id, false, rpc)), runner("w2", replies).run(delivery(body, id, true, rpc))]);
    assert.deepEqual(outcomes, ["ack", "ack"]);
    assert.equal(replies.length, 1, `replies: ${replies.map((r) => r.status).join(", ")}`);
  });

  test("two deliveries claiming the reply in the same millisecond send one reply between them", async (t) => {
    const id = `reply-same-ms-${randomUUID()}`;
    const finished = nextRecord(newTaskRecord({ type: "submit", id, taskType: "echo", payload: {}, priority: 0, at: new Date().toISOString() }), {
      type: "succeed",
      attempt: { worker: "w0", startedAt: new Date().toISOString(), maxAttempts: 3, run: 1 },
      result: {},
      at: new Date().toISOString(),
    })!;
    await store.create(finished);
    const replies: TaskRecord[] = [];
    // Both claims carry the same time: a claim's time cannot tell two deliveries apart.
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    try {
      const body = JSON.stringify({ type: "echo", payload: {}, id });
      const outcomes = await Promise.all([runner("w1", replies).run(delivery(body, id, true, rpc)), runner("w2", replies).run(delivery(body, id, true, rpc))]);
      assert.deepEqual(outcomes, ["ack", "ack"]);
    } finally {
      t.mock.timers.reset();
    }
    assert.equal(replies.length, 1, `${replies.length} replies`);
  });

  test("a stalled task cancelled by an operator still replies when its message comes back redelivered", async () => {
    const id = `reply-stalled-${randomUUID()}`;
    const replies: TaskRecord[] = [];
    const created = await store.create({ ...newTaskRecord({ type: "submit", id, taskType: "sleep", payload: { ms: 10 }, priority: 0, at: new Date().toISOString() }), status: "stalled", worker: "gone", attempts: 1 });
    assert.ok(created);
    const cancelled = await store.update(id, (cur) => nextRecord(cur, { type: "cancel", at: new Date().toISOString() }));
    assert.equal(cancelled?.status, "cancelled");
    assert.equal(await runner("w1", replies).run(delivery(JSON.stringify({ type: "sleep", payload: { ms: 10 }, id }), id, true, rpc)), "ack");
    assert.deepEqual(replies.map((r) => r.status), ["cancelled"]);
  });
});

describe("each run of a task has its generation: messages and attempts of an earlier run change nothing", () => {
  let stack: Stack;
  let store: TaskStore;
  before(async () => {
    stack = await startStack({ workers: 0 });
    store = storeOf(stack);
  });
  after(() => stack.close());

  const runner = (workerId: string) => testRunner(store, workerId);
  /** A message as Taskcast publishes it for run `run` of the task (no header: run 1, as another service publishes it). */
  const message = (id: string, ms: number, run?: number) => {
    const m = delivery(JSON.stringify({ type: "sleep", payload: { ms }, id }), id);
    if (run !== undefined) m.properties.headers = { [RUN_HEADER]: run };
    return m;
  };
  const queued = async (id: string, ms: number) => {
    assert.ok(await store.create(newTaskRecord({ type: "submit", id, taskType: "sleep", payload: { ms }, priority: 0, at: new Date().toISOString() })));
  };
  const change = (id: string, event: TaskEvent) => store.update(id, (cur) => nextRecord(cur, event));

  test("cancel, then retry a queued task: its first message is dropped, and the two messages run it once", async () => {
    const id = `generation-${randomUUID()}`;
    await queued(id, 300);
    await change(id, { type: "cancel", at: new Date().toISOString() });
    const retried = await change(id, { type: "retry", payload: { ms: 300 }, at: new Date().toISOString() });
    assert.equal(retried?.status, "queued");
    // The first run's message (no header) and the retry's, delivered to two workers at once.
    const outcomes = await Promise.all([runner("w1").run(message(id, 300)), runner("w2").run(message(id, 300, 2))]);
    assert.deepEqual(outcomes, ["ack", "ack"]);
    const record = await store.get(id);
    assert.equal(record?.status, "succeeded");
    assert.equal(record?.attemptLog.length, 1, `attempts: ${JSON.stringify(record?.attemptLog)}`);
  });

  test("an attempt of an earlier run that ends after an operator's retry leaves the new run alone", async () => {
    const id = `generation-late-${randomUUID()}`;
    await queued(id, 400);
    const first = runner("w1").run(message(id, 400));
    // The first attempt is recorded running; its worker is cut off, the task stalls, an operator cancels and retries it.
    await eventually(async () => ((await store.get(id))?.status === "running" ? true : undefined), "the first attempt to be recorded running");
    await change(id, { type: "stall", worker: "w1" });
    await change(id, { type: "cancel", at: new Date().toISOString() });
    await change(id, { type: "retry", payload: { ms: 10 }, at: new Date().toISOString() });
    assert.equal(await first, "ack");
    const record = await store.get(id);
    assert.equal(record?.status, "queued", `the retried run waits for its own message: ${JSON.stringify(record)}`);
    assert.equal(record?.result, undefined);
  });
});

describe("worker liveness does not depend on the machines' clocks agreeing", () => {
  let stack: Stack;
  let directory: WorkerDirectory;
  before(async () => {
    stack = await startStack({ workers: 0 });
    directory = new WorkerDirectory(stack.redis, redisKeys(stack.config.KEY_PREFIX));
  });
  after(() => stack.close());

  const beat = (id: string, clockOffsetMs: number) =>
    directory.beat({ id, host: "skewed", pid: 1, concurrency: 1, inflight: 1, processed: 0, running: [`task-of-${id}`], startedAt: new Date().toISOString(), beatAt: Date.now() + clockOffsetMs });

  test("a worker whose clock is 10 s behind, or ahead, is live while it beats, and its task is held by it", async () => {
    await beat("behind", -10_000);
    await beat("ahead", 10_000);
    const live = (await directory.live()).map((w) => w.id).sort();
    assert.deepEqual(live, ["ahead", "behind"]);
    assert.equal(await directory.holds("behind", "task-of-behind"), true, "a duplicate delivery of its task is not run beside it");
    const listed = await directory.list();
    for (const w of listed) assert.ok(w.heartbeatAgeMs < 5000, `${w.id}'s heartbeat age ${w.heartbeatAgeMs} ms`);
  });
});

describe("web nodes see each other live whatever their machines' clocks say", () => {
  let stack: Stack;
  let skewed: ChildWebNode;
  before(async () => {
    stack = await startStack({ workers: 0 });
    // Another "machine" whose clock is 10 s ahead of this one's.
    skewed = await spawnWebNode(stack, {}, 10_000);
  });
  after(async () => {
    skewed.process.kill("SIGTERM");
    await skewed.exited;
    await stack.close();
  });

  const listedBy = async (url: string) => ((await (await fetch(`${url}/api/web-nodes`)).json()) as WebNodeList).nodes.map((n) => n.id);

  test("each node lists both: the one 10 s behind it and the one 10 s ahead", async () => {
    await eventually(async () => ((await listedBy(stack.nodes[0].url)).length === 2 ? true : undefined), "the node on this machine's clock to list both", 10_000);
    // Several ticks, so a beat that looks stale has had time to be dropped.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal((await listedBy(skewed.url)).length, 2, "the node whose clock is ahead lists the other one");
    assert.equal((await listedBy(stack.nodes[0].url)).length, 2, "the node on this machine's clock lists the other one");
  });
});

describe("the stall sweep looks at every running task", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 0 });
  });
  after(() => stack.close());

  test("tasks of a worker that stopped beating stall even behind 1,000 newer tasks of a live worker", async () => {
    const keys = redisKeys(stack.config.KEY_PREFIX);
    const store = new TaskStore(stack.redis, keys, 10_000);
    const directory = new WorkerDirectory(stack.redis, keys);
    const stopBeating = directory.startBeating({ id: "alive", host: "h", pid: 1, concurrency: 2000, startedAt: new Date().toISOString() }, () => ({ inflight: 0, processed: 0, running: [] }), 1000, log);
    try {
      const running = (id: string, worker: string, at: string): TaskRecord => ({ ...newTaskRecord({ type: "submit", id, taskType: "sleep", payload: {}, priority: 0, at }), status: "running", worker, startedAt: at, attempts: 1 });
      const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
      const orphans = Array.from({ length: 3 }, (_, i) => `orphan-${i}-${randomUUID()}`);
      await Promise.all(orphans.map((id) => store.create(running(id, "gone-worker", hourAgo))));
      await Promise.all(Array.from({ length: 1000 }, (_, i) => store.create(running(`busy-${i}-${randomUUID()}`, "alive", new Date().toISOString()))));
      for (const id of orphans) {
        await eventually(async () => ((await store.get(id))?.status === "stalled" ? true : undefined), `orphan ${id} to stall`, 15_000);
      }
      assert.equal((await store.counts()).running, 1000, "the live worker's tasks are left running");
    } finally {
      stopBeating();
    }
  });
});

describe("a cancel reaches a worker that runs a task marked stalled", () => {
  const { fixture, runningOn: runningOnWorker } = stackWithProxiedWorker();

  test("cancelling a task marked stalled while its worker in fact still runs it aborts that worker's handler", async () => {
    const { stack } = fixture;
    const id = await submit(stack, { type: "sleep", payload: { ms: 30_000 } });
    await eventually(async () => ((await runningOnWorker()).includes(id) && (await taskOf(stack, id))?.status === "running" ? true : undefined), "the task to run");
    // A false stall: the sweep saw no beat (a clock, a slow Redis), the worker goes on.
    const store = storeOf(stack);
    assert.equal((await store.update(id, (cur) => nextRecord(cur, { type: "stall", worker: cur.worker! })))?.status, "stalled");
    assert.equal((await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {})).status, 202);
    await eventually(async () => (!(await runningOnWorker()).includes(id) ? true : undefined), "the worker to stop running the cancelled task", 8000);
    assert.equal((await taskOf(stack, id))?.status, "cancelled");
  });
});

describe("with RABBITMQ_URL naming several nodes, a lost node's clients move to the next", () => {
  let stack: Stack;
  let first: FaultProxy;
  let second: FaultProxy;
  const rabbitmq = process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672";
  before(async () => {
    // Two "nodes": two proxies to the one broker; the first goes away.
    [first, second] = await Promise.all([FaultProxy.start(rabbitmq), FaultProxy.start(rabbitmq)]);
    stack = await startStack({ workers: 1, env: { RABBITMQ_URL: `${first.via(rabbitmq)},${second.via(rabbitmq)}`, API_RATE: "0" } });
  });
  after(async () => {
    await stack.close();
    await Promise.all([first.close().catch(() => undefined), second.close()]);
  });

  test("the web node and the worker reconnect through the second node and tasks run again", async () => {
    await waitForStatus(stack, await submit(stack, { type: "echo", payload: { before: true } }), ["succeeded"]);
    assert.ok(second.connections === 0, "everyone starts on the first node");
    await first.close(); // the node is gone: its connections drop and it refuses new ones
    const id = await eventually(async () => {
      const res = await postJson(stack.nodes[0], "/api/tasks", { type: "echo", payload: { after: true } });
      return res.status === 202 ? (res.body.id as string) : undefined;
    }, "a submission to be accepted through the second node", 30_000);
    await waitForStatus(stack, id, ["succeeded"], 30_000);
    assert.ok(second.connections >= 2, `${second.connections} connections on the second node`);
  });
});

describe("a retrying task whose retry message was lost runs again", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 1 });
  });
  after(() => stack.close());

  test("a task left retrying long past its next attempt, with no message anywhere, is queued again as a new run and runs", async () => {
    const store = storeOf(stack);
    const id = `overdue-${randomUUID()}`;
    const longAgo = new Date(Date.now() - 3_600_000).toISOString();
    // What a worker leaves after an attempt failed, when RabbitMQ then lost the retry queue's message (a node died).
    await store.create({
      ...newTaskRecord({ type: "submit", id, taskType: "echo", payload: { lost: true }, priority: 0, at: longAgo }),
      status: "retrying",
      attempts: 1,
      maxAttempts: 3,
      error: "boom",
      nextAttemptAt: longAgo,
    });
    const record = await waitForStatus(stack, id, ["succeeded"], 20_000);
    assert.deepEqual(record.result, { lost: true });
    assert.equal(record.run, 2, "a new run: the lost message, should it come back, is dropped");
  });
});

describe("a worker runs at most WORKER_CONCURRENCY tasks, even across a lost RabbitMQ connection", () => {
  const { fixture, runningOn } = stackWithProxiedWorker();

  test("handlers still running when the channel died hold their slots: new deliveries wait for them", async () => {
    const { stack, proxy, workerId } = fixture;
    const first = [await submit(stack, { type: "sleep", payload: { ms: 5000 } }), await submit(stack, { type: "sleep", payload: { ms: 5000 } })];
    await eventually(async () => ((await runningOn(workerId)).length === 2 ? true : undefined), "the worker to run both tasks");
    // A second worker takes the redeliveries of the first two (and requeues them: they run elsewhere) once the connection drops.
    await stack.addWorker({ WORKER_CONCURRENCY: "2" });
    proxy.cut();
    await eventually(async () => (proxy.connections > 0 ? true : undefined), "the worker to reconnect", 15_000);
    const later = [await submit(stack, { type: "sleep", payload: { ms: 1000 } }), await submit(stack, { type: "sleep", payload: { ms: 1000 } })];
    let most = 0;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      most = Math.max(most, (await runningOn(workerId)).length);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(most <= 2, `the worker ran ${most} tasks at once with WORKER_CONCURRENCY=2`);
    for (const id of [...first, ...later]) assert.equal((await waitForStatus(stack, id, ["succeeded"], 20_000)).status, "succeeded");
  });
});

describe("an attempt past its task type's timeout is aborted, whether or not it was recorded running yet", () => {
  let stack: Stack;
  const types = taskTypes as Map<string, TaskDefinition>;
  /** A handler that waits for its abort, with a one-attempt policy and the given timeout. */
  const waitsForAbort = (name: string, timeoutMs: number) =>
    defineTask({
      name,
      description: "test: waits until aborted",
      example: {},
      payload: z.strictObject({}),
      retry: { maxAttempts: 1, timeoutMs },
      run: (_payload, ctx) => new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true })),
    }) as unknown as TaskDefinition;
  before(async () => {
    stack = await startStack({ workers: 0 });
    types.set("test-timeout-short", waitsForAbort("test-timeout-short", 50));
    types.set("test-timeout-long", waitsForAbort("test-timeout-long", 400));
  });
  after(async () => {
    types.delete("test-timeout-short");
    types.delete("test-timeout-long");
    await stack.close();
  });

  for (const [type, timeoutMs] of [["test-timeout-short", 50], ["test-timeout-long", 400]] as const) {
    test(`a ${timeoutMs} ms timeout ends the attempt after about ${timeoutMs} ms, and the task goes dead with the reason`, async () => {
      const store = storeOf(stack);
      const buried: string[] = [];
      const runner = testRunner(store, "w-timeout", { publisher: { publishRetry: async () => assert.fail("one attempt only"), publishDead: async (_content, properties) => void buried.push(String(properties.headers?.["x-taskcast-reason"])) } });
      const id = `timeout-${randomUUID()}`;
      const started = Date.now();
      const tooLate = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the attempt was not aborted within 3 s")), 3000).unref());
      assert.equal(await Promise.race([runner.run(delivery(JSON.stringify({ id, type, payload: {} }), id)), tooLate]), "ack");
      const took = Date.now() - started;
      assert.ok(took >= timeoutMs - 5 && took < timeoutMs + 1000, `the attempt took ${took} ms`);
      const record = await store.get(id);
      assert.equal(record?.status, "dead");
      assert.match(record?.error ?? "", new RegExp(`timed out after ${timeoutMs} ms`));
      assert.equal(buried.length, 1);
      assert.match(buried[0], /timed out/);
    });
  }
});
