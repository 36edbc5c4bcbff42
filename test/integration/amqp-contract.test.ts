// The AMQP contract for outside services: messages published straight to the queue, replies, bad messages.
import assert from "node:assert/strict";
import type { Channel } from "amqplib";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { isFinished, TaskRecordSchema, type TaskRecord } from "../../lib/contract";
import { deadQueueName, REASON_HEADER } from "../../server/queue/topology";
import { openAmqpClient, type AmqpClient } from "../helpers/amqp-client";
import { api, eventually, startStack, type Stack } from "../helpers/stack";

describe("AMQP contract", () => {
  let stack: Stack;
  let amqp: AmqpClient;
  let ch: Channel;
  let replyQueue: string;

  before(async () => {
    stack = await startStack({ workers: 1 });
    amqp = await openAmqpClient(stack);
    ch = amqp.channel;
    replyQueue = amqp.replyQueue;
  });
  after(async () => {
    await amqp.close();
    await stack.close();
  });

  // Publishes as a PHP service with php-amqplib would: a persistent message on the default exchange.
  let published = 0;
  const publish = async (body: string | object, properties: Record<string, unknown> = {}) => {
    published++;
    await amqp.publish(body, properties);
  };
  const finished = (id: string) =>
    eventually(async () => {
      const { status, body } = await api(stack.nodes[0], `/api/tasks/${encodeURIComponent(id)}`);
      return status === 200 && isFinished(body.status) ? (body as TaskRecord) : undefined;
    }, `task ${id} to finish`);
  const reply = (correlationId: string) => amqp.reply(correlationId);

  test("a task published with an id runs, shows on the dashboard and replies to reply_to with the final record", async () => {
    const id = `php-${randomUUID()}`;
    const correlationId = randomUUID();
    await publish({ type: "echo", payload: { from: "php" }, id }, { replyTo: replyQueue, correlationId });
    const record = await finished(id);
    assert.equal(record.status, "succeeded");
    assert.deepEqual(record.result, { from: "php" });
    const msg = await reply(correlationId);
    assert.equal(msg.properties.correlationId, correlationId);
    assert.equal(msg.properties.messageId, `${id}:1`, "a reply's message_id names its task and run, so a repeat can be dropped");
    const replied = TaskRecordSchema.parse(JSON.parse(msg.content.toString()));
    assert.equal(replied.id, id);
    assert.equal(replied.status, "succeeded");
    assert.deepEqual(replied.result, { from: "php" });
  });

  test("a task without an id gets one and is listed", async () => {
    const marker = randomUUID();
    await publish({ type: "echo", payload: { marker } });
    const listed = await eventually(async () => {
      const { body } = await api(stack.nodes[0], "/api/tasks?status=succeeded&limit=100");
      return (body.tasks as TaskRecord[]).find((t) => (t.payload as { marker?: string }).marker === marker);
    }, "the id-less task to succeed");
    assert.ok(listed.id.length > 0);
  });

  /** Takes every message out of the dead-letter queue (they are test data of this run). */
  const drainDeadQueue = async () => {
    const taken: import("amqplib").GetMessage[] = [];
    for (let m = await ch.get(deadQueueName(stack.config.TASK_QUEUE), { noAck: true }); m; m = await ch.get(deadQueueName(stack.config.TASK_QUEUE), { noAck: true })) taken.push(m);
    return taken;
  };

  test("a body that is not JSON ends dead, in the dead-letter queue with its reason, and the reply says so", async () => {
    const messageId = randomUUID();
    const correlationId = randomUUID();
    await publish("this is not json", { messageId, replyTo: replyQueue, correlationId });
    const record = await finished(messageId);
    assert.equal(record.status, "dead");
    assert.match(record.error!, /not valid JSON.*this is not json/);
    const replied = JSON.parse((await reply(correlationId)).content.toString());
    assert.equal(replied.status, "dead");
    const dead = (await drainDeadQueue()).find((m) => m.properties.messageId === messageId);
    assert.ok(dead, "the message is in the dead-letter queue");
    assert.equal(dead.content.toString(), "this is not json", "the original body is kept");
    assert.match(String(dead.properties.headers?.[REASON_HEADER]), /not valid JSON/);
    assert.equal(dead.properties.replyTo, replyQueue);
  });

  test("a message naming an unknown type ends dead with a reason naming the known types", async () => {
    const id = randomUUID();
    await publish({ type: "teleport", payload: {}, id });
    const record = await finished(id);
    assert.equal(record.status, "dead");
    assert.equal(record.type, "teleport");
    assert.match(record.error!, /Unknown task type "teleport"/);
    const { body } = await api(stack.nodes[0], "/api/dead-letters");
    assert.ok((body.tasks as TaskRecord[]).some((t) => t.id === id), "listed among the dead letters");
    const dead = (await drainDeadQueue()).find((m) => m.properties.messageId === id);
    assert.match(String(dead?.properties.headers?.[REASON_HEADER]), /Unknown task type "teleport"/);
  });

  test("a message of the wrong shape or with an invalid payload ends dead with a clear reason", async () => {
    const a = randomUUID();
    await publish({ payload: {}, id: a });
    assert.match((await finished(a)).error!, /Message is not a task/);
    const b = randomUUID();
    await publish({ type: "sleep", payload: { ms: -5 }, id: b });
    assert.match((await finished(b)).error!, /Invalid payload for "sleep"/);
  });

  test("after bad messages the worker is still consuming and runs the next task", async () => {
    const id = randomUUID();
    await publish({ type: "sleep", payload: { ms: 50 }, id });
    assert.equal((await finished(id)).status, "succeeded");
    const { body } = await api(stack.nodes[0], "/api/queue");
    assert.equal(body.consumers, 1);
  });

  test("a 1 MB payload runs whole, but tabs and lists get it left out with its size", async () => {
    const id = `big-${randomUUID()}`;
    const blob = "x".repeat(1024 * 1024);
    const socket = await stack.connectSocket();
    const live: TaskRecord[] = [];
    socket.on("task:update", (r) => r.id === id && live.push(r));
    await publish({ type: "echo", payload: { blob }, id });
    const done = await finished(id);
    assert.equal((done.payload as { blob: string }).blob.length, blob.length, "GET /api/tasks/:id has it whole");
    assert.equal((done.result as { blob: string }).blob.length, blob.length);
    await eventually(async () => (live.some((r) => r.status === "succeeded") ? true : undefined), "the live update");
    for (const r of live) {
      assert.equal(r.payload, null);
      assert.ok(r.payloadBytes! > 1024 * 1024, `payloadBytes ${r.payloadBytes}`);
    }
    assert.ok(live.find((r) => r.status === "succeeded")!.resultBytes! > 1024 * 1024);
    const listed = ((await api(stack.nodes[0], "/api/tasks?limit=10")).body.tasks as TaskRecord[]).find((t) => t.id === id)!;
    assert.equal(listed.payload, null);
    assert.ok(JSON.stringify(listed).length < 5000, "the list entry is small");
    socket.disconnect();
  });

  test("a redelivered message of a finished task does not run it again", async () => {
    const id = randomUUID();
    await publish({ type: "echo", payload: { once: true }, id });
    const first = await finished(id);
    // The worker's heartbeat counts settled deliveries: wait until it has settled the duplicate too.
    const settled = async () => {
      const beats = Object.values(await stack.redis.hgetall(`${stack.config.KEY_PREFIX}:workers`));
      return beats.reduce((sum, raw) => sum + (JSON.parse(raw) as { processed: number }).processed, 0);
    };
    await publish({ type: "echo", payload: { once: true }, id });
    await eventually(async () => ((await settled()) === published ? true : undefined), "every published message, the duplicate too, to be settled");
    const { body } = await api(stack.nodes[0], `/api/tasks/${id}`);
    assert.equal(body.version, first.version);
    assert.equal(body.attempts, 1);
  });
});
