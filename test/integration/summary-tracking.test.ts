// Summary tracking (TASK_TRACK_SUMMARY): a listed type's tasks published straight to the queue are counted, not
// recorded, when they succeed at once; everything else about them is recorded as usual; a redelivery of one that
// succeeded is dropped. On the real RabbitMQ and Redis.
import assert from "node:assert/strict";
import { connect, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from "amqplib";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type { TaskRecord } from "../../lib/contract";
import { createLogger } from "../../server/logger";
import { TaskConsumer } from "../../server/queue/consumer";
import { redisKeys } from "../../server/redis/keys";
import { SummaryMarks } from "../../server/store/summary-marks";
import { api, eventually, startStack, type Stack } from "../helpers/stack";
import { submit, taskOf, waitForStatus } from "../helpers/tasks";

describe("summary tracking", () => {
  let stack: Stack;
  let conn: ChannelModel;
  let ch: ConfirmChannel;

  before(async () => {
    stack = await startStack({ workers: 1, env: { TASK_TRACK_SUMMARY: "echo,flaky,sleep" } });
    conn = await connect(stack.config.RABBITMQ_URL);
    ch = await conn.createConfirmChannel();
  });
  after(async () => {
    await conn.close();
    await stack.close();
  });

  const keys = () => redisKeys(stack.config.KEY_PREFIX);
  const publish = async (body: object, properties: Record<string, unknown> = {}) => {
    ch.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(JSON.stringify(body)), { persistent: true, ...properties });
    await ch.waitForConfirms();
  };
  const succeededCount = async (type: string) => Number((await stack.redis.hget(keys().summarySucceeded, type)) ?? 0);
  const queueEmpty = () =>
    eventually(async () => {
      const q = await ch.checkQueue(stack.config.TASK_QUEUE);
      return q.messageCount === 0 ? true : undefined;
    }, "the queue to be empty");

  test("a task published over AMQP that succeeds at once is counted and marked done, with no record", async () => {
    const countedBefore = await succeededCount("echo");
    const ids = Array.from({ length: 20 }, () => `svc-${randomUUID()}`);
    for (const id of ids) ch.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(JSON.stringify({ id, type: "echo", payload: { id } })), { persistent: true, messageId: id });
    await ch.waitForConfirms();
    await eventually(async () => ((await succeededCount("echo")) - countedBefore === ids.length ? true : undefined), "20 echo tasks counted");
    for (const id of ids) {
      assert.equal((await api(stack.nodes[0], `/api/tasks/${id}`)).status, 404, "no record");
      assert.notEqual(await stack.redis.zscore(keys().summaryDone, id), null, "marked done until its ack is settled");
    }
    await queueEmpty();
    // The worker's own counters saw them too (the dashboard's activity chart, Prometheus).
    const metrics = await (await fetch(`${stack.workers[0].metricsUrl}/metrics`)).text();
    assert.match(metrics, /taskcast_tasks_finished_total\{[^}]*type="echo"[^}]*\} (\d+)/);
  });

  test("a counted task's handler log lines stay in the worker's log: nothing is left in Redis without a record", async () => {
    const countedBefore = await succeededCount("sleep");
    const id = `svc-${randomUUID()}`;
    await publish({ id, type: "sleep", payload: { ms: 20 } }, { messageId: id });
    await eventually(async () => ((await succeededCount("sleep")) > countedBefore ? true : undefined), "the short sleep counted");
    await delay(400);
    assert.equal((await api(stack.nodes[0], `/api/tasks/${id}`)).status, 404);
    assert.equal(await stack.redis.exists(keys().taskLogs(id)), 0, "no log lines kept for a task with no record");
  });

  test("a task that fails is retried and recorded; a long one is recorded from its start", async () => {
    const flaky = `svc-${randomUUID()}`;
    await publish({ id: flaky, type: "flaky", payload: { failures: 1 } }, { messageId: flaky });
    const retried = await waitForStatus(stack, flaky, ["succeeded"], 20_000);
    assert.equal(retried.attempts, 2);
    assert.deepEqual(retried.result, { attempts: 2 });
    assert.deepEqual(
      retried.attemptLog.map((a) => a.outcome),
      ["error", "succeeded"],
    );

    const slow = `svc-${randomUUID()}`;
    await publish({ id: slow, type: "sleep", payload: { ms: 1200 } }, { messageId: slow });
    const running = await waitForStatus(stack, slow, ["running"]);
    assert.equal(running.attempts, 1);
    const done = await waitForStatus(stack, slow, ["succeeded"]);
    assert.equal(done.attempts, 1);
    const logs = await api(stack.nodes[0], `/api/tasks/${slow}/logs`);
    assert.ok((logs.body.logs as unknown[]).length >= 2, "a recorded task keeps its lines, those from before its record included");
  });

  test("tasks submitted through the API, or owing a reply, keep their records", async () => {
    const viaApi = await submit(stack, { type: "echo", payload: { via: "api" } });
    assert.equal((await waitForStatus(stack, viaApi, ["succeeded"])).status, "succeeded");

    const reply = await ch.assertQueue("", { exclusive: true });
    const replies: ConsumeMessage[] = [];
    await ch.consume(reply.queue, (m) => m && replies.push(m), { noAck: true });
    const withReply = `svc-${randomUUID()}`;
    await publish({ id: withReply, type: "echo", payload: { n: 1 } }, { messageId: withReply, replyTo: reply.queue, correlationId: withReply });
    assert.equal((await waitForStatus(stack, withReply, ["succeeded"])).status, "succeeded");
    await eventually(async () => (replies.length === 1 ? true : undefined), "one reply");
    assert.equal((JSON.parse(replies[0].content.toString()) as TaskRecord).status, "succeeded");
  });

  test("a redelivery of a task that succeeded is dropped; one that did not runs, recorded", async () => {
    // The worker pauses its queue's consumer for the moment: the test takes the deliveries itself first.
    const worker = stack.workers.pop()!;
    await worker.close();
    const done = `svc-${randomUUID()}`;
    const fresh = `svc-${randomUUID()}`;
    await publish({ id: done, type: "echo", payload: { which: "done" } }, { messageId: done });
    await publish({ id: fresh, type: "echo", payload: { which: "fresh" } }, { messageId: fresh });
    // Deliver both to a consumer that acks neither, then close its channel: RabbitMQ redelivers them, flagged.
    const taker = await conn.createChannel();
    const taken: ConsumeMessage[] = [];
    await taker.consume(stack.config.TASK_QUEUE, (m) => m && taken.push(m), { noAck: false });
    await eventually(async () => (taken.length === 2 ? true : undefined), "both messages delivered to the test");
    await taker.close();
    // As a worker that ran `done` and died before its ack reached RabbitMQ would have left it.
    await new SummaryMarks(stack.redis, keys()).record([{ id: done, type: "echo" }], []);
    const counted = await succeededCount("echo");

    await stack.addWorker();
    const ran = await waitForStatus(stack, fresh, ["succeeded"]);
    assert.deepEqual(ran.result, { which: "fresh" }, "the redelivery that had not succeeded ran, with a record");
    await queueEmpty();
    await delay(300);
    assert.equal((await api(stack.nodes[0], `/api/tasks/${done}`)).status, 404, "the finished one did not run again");
    assert.equal(await succeededCount("echo"), counted, "nor was it counted again");
  });

  test("the consumer says when an ack is settled, and not for a channel that closed first", async () => {
    const queue = `${stack.config.TASK_QUEUE}-settle-${randomUUID().slice(0, 8)}`;
    const log = createLogger("test", "silent");
    const settled: string[] = [];
    let consumer: TaskConsumer | undefined = undefined;
    let closeBeforeAck = false;
    const model = await connect(stack.config.RABBITMQ_URL);
    try {
      consumer = new TaskConsumer(
        queue,
        1,
        1,
        async (message) => {
          const id = `${String(message.properties.messageId)}:${message.fields.redelivered ? "again" : "first"}`;
          consumer!.whenAckSettled(message, () => settled.push(id));
          if (closeBeforeAck && !message.fields.redelivered) {
            // The channel dies after the handler ran, and the consumer is on a new channel by the time it acks:
            // that ack cannot be known settled (it went nowhere; RabbitMQ delivers the message again).
            await (consumer as unknown as { channel: { close(): Promise<void> } }).channel.close().catch(() => undefined);
            await eventually(async () => ((consumer as unknown as { channel?: object }).channel ? true : undefined), "the consumer's new channel", 5000);
          }
          return "ack";
        },
        async () => undefined,
        log,
      );
      await (await model.createChannel()).assertQueue(queue, { durable: false });
      await consumer.setup(model);
      ch.sendToQueue(queue, Buffer.from("{}"), { messageId: "first" });
      await ch.waitForConfirms();
      await eventually(async () => (settled.includes("first:first") ? true : undefined), "the first ack settled", 5000);
      closeBeforeAck = true;
      ch.sendToQueue(queue, Buffer.from("{}"), { messageId: "second" });
      await ch.waitForConfirms();
      await eventually(async () => (settled.includes("second:again") ? true : undefined), "the redelivery's ack settled", 10_000);
      await delay(1500);
      assert.ok(!settled.includes("second:first"), "an ack on a channel that closed is never reported settled");
    } finally {
      await consumer?.stop();
      await ch.deleteQueue(queue).catch(() => undefined);
      await model.close().catch(() => undefined);
    }
  });

  test("a task of a type tracked in full is recorded as before", async () => {
    const id = `svc-${randomUUID()}`;
    await publish({ id, type: "fail", payload: {} }, { messageId: id });
    assert.equal((await waitForStatus(stack, id, ["failed", "dead"])).id, id);
    assert.ok(await taskOf(stack, id));
  });
});
