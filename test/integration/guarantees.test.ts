// The documented guarantees at their worst interleavings, reached on purpose: a test hook where only an
// in-process pause can hit the window, against the real RabbitMQ and Redis.
import assert from "node:assert/strict";
import { connect, type ChannelModel, type ConsumeMessage, type GetMessage } from "amqplib";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import type { TaskRecord } from "../../lib/contract";
import { isDeadLetter } from "../../lib/task-lifecycle";
import { TaskRunner } from "../../server/lifecycle/task-runner";
import { connectAmqp, type AmqpConnection } from "../../server/queue/amqp";
import { DeadLetterQueue } from "../../server/queue/dead-letters";
import { ConfirmPublisher } from "../../server/queue/publisher";
import { topologyFor } from "../../server/queue/topology";
import { redisKeys } from "../../server/redis/keys";
import { TaskStore } from "../../server/store/task-store";
import { unavailable } from "../../server/errors";
import { postJson, startStack, type Stack } from "../helpers/stack";
import { submit, taskOf, waitForStatus } from "../helpers/tasks";

const log = pino({ level: "silent" });

/** A delivery as amqplib hands it to a consumer. */
function delivery(content: string, messageId: string, redelivered = false): ConsumeMessage {
  return {
    content: Buffer.from(content),
    fields: { deliveryTag: 1, redelivered, exchange: "", routingKey: "", consumerTag: "test" },
    properties: { messageId, headers: {}, contentType: undefined, contentEncoding: undefined, deliveryMode: 2, priority: undefined, correlationId: undefined, replyTo: undefined, expiration: undefined, timestamp: undefined, type: undefined, userId: undefined, appId: undefined, clusterId: undefined },
  } as ConsumeMessage;
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
    store = new TaskStore(stack.redis, redisKeys(stack.config.KEY_PREFIX), 1000);
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
    const runner = new TaskRunner({
      store,
      publisher: {
        publishRetry: (...args) => publisher.publishRetry(...args),
        publishDead: async (...args) => {
          if (blips-- > 0) throw unavailable("RabbitMQ did not confirm the message in time (a blip injected by the test)");
          return publisher.publishDead(...args);
        },
      },
      publish: () => undefined,
      reply: () => undefined,
      heldElsewhere: async () => false,
      removeDeadCopy: async () => assert.fail("no copy is surplus here"),
      workerId: "test-worker",
      log,
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
