// Several queues against the real RabbitMQ and Redis: TASK_QUEUE and the queues outside workers announce, in
// GET /api/queues, the queues:stats stream and the Prometheus gauges, with GET /api/queue unchanged.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { connect, type ChannelModel } from "amqplib";
import type { QueueDepth, QueueList } from "../../lib/contract";
import { StatsSeriesSchema } from "../../lib/insights";
import { eventsQueueName } from "../../lib/worker-protocol";
import { api, eventually, nextEvent, startStack, type Stack } from "../helpers/stack";
import { sample } from "../helpers/metrics-text";


describe("several queues", () => {
  let stack: Stack;
  let model: ChannelModel;
  let images: string;
  let missing: string;
  const workerId = `py-${randomUUID().slice(0, 8)}`;

  before(async () => {
    // A Taskcast worker consumes TASK_QUEUE; an outside (Python) worker consumes a queue of its own.
    stack = await startStack({ webNodes: 1, workers: 1 });
    model = await connect(stack.config.rabbitmqUrls[0]);
    images = `images-${stack.config.TASK_QUEUE}`;
    missing = `missing-${stack.config.TASK_QUEUE}`;
    const ch = await model.createConfirmChannel();
    const announce = (worker: string, queue: string, inflight: number) =>
      ch.sendToQueue(
        eventsQueueName(stack.config.TASK_QUEUE),
        Buffer.from(JSON.stringify({ kind: "worker", v: 1, worker, queue, types: [{ name: `type-of-${worker}` }], concurrency: 2, inflight, language: "python", host: "py-box" })),
        { persistent: true },
      );
    announce(workerId, images, 1);
    announce(`${workerId}-b`, missing, 5);
    await ch.waitForConfirms();
    // Taskcast declares the queues it hears announced (worker protocol).
    const exists = async (queue: string) => {
      const probe = await model.createChannel();
      probe.on("error", () => undefined);
      const found = await probe.checkQueue(queue).then(() => true, () => false);
      await probe.close().catch(() => undefined);
      return found;
    };
    await eventually(async () => ((await exists(images)) && (await exists(missing)) ? true : undefined), "Taskcast declaring both announced queues");
    // One deleted behind Taskcast's back: listed with zeros, never an error (Taskcast declares it again a minute later).
    await ch.deleteQueue(missing);
    for (let i = 0; i < 3; i++) ch.sendToQueue(images, Buffer.from(JSON.stringify({ type: "thumbnail", payload: { i }, id: randomUUID() })), { persistent: true });
    await ch.waitForConfirms();
    // The outside worker holds one delivery (prefetch 1, never acked): 2 ready, 1 consumer.
    const consumer = await model.createChannel();
    await consumer.prefetch(1);
    await consumer.consume(images, () => undefined);
    await eventually(async () => ((await ch.checkQueue(images)).messageCount === 2 ? true : undefined), "one delivery held by the outside worker");
    await ch.close();
  });

  after(async () => {
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    for (const queue of [images, missing]) await ch.deleteQueue(queue).catch(() => undefined);
    await model.close().catch(() => undefined);
    await stack.close();
  });

  const listed = async (): Promise<QueueList> => {
    const { status, body } = await api(stack.nodes[0], "/api/queues");
    assert.equal(status, 200, JSON.stringify(body));
    return body as QueueList;
  };

  test("GET /api/queues lists TASK_QUEUE first, then each announced queue (one RabbitMQ lacks: zeros, exists false); GET /api/queue keeps its shape", async () => {
    const { queues } = await eventually(async () => {
      const list = await listed();
      return list.queues.length === 3 && list.queues[0].consumers === 1 ? list : undefined;
    }, "three queues, the Taskcast worker consuming TASK_QUEUE");
    const dead = `${stack.config.TASK_QUEUE}.dead`;
    assert.deepEqual(queues, [
      // The outside workers' inflight is theirs, not TASK_QUEUE's.
      { queue: stack.config.TASK_QUEUE, ready: 0, unacked: 0, consumers: 1, dead: 0, paused: false, exists: true, deadLetterQueue: dead },
      { queue: images, ready: 2, unacked: 1, consumers: 1, dead: 0, paused: false, exists: true, deadLetterQueue: dead },
      { queue: missing, ready: 0, unacked: 5, consumers: 0, dead: 0, paused: false, exists: false, deadLetterQueue: dead },
    ] satisfies QueueDepth[]);
    // GET /api/queue keeps its exact shape for TASK_QUEUE, and the outside workers' inflight is not its unacked.
    assert.deepEqual((await api(stack.nodes[0], "/api/queue")).body, { queue: stack.config.TASK_QUEUE, ready: 0, unacked: 0, consumers: 1, dead: 0, paused: false });
    // Asked again: the check of the missing queue left the next read working.
    assert.deepEqual((await listed()).queues.map((q) => [q.queue, q.ready, q.exists]), [
      [stack.config.TASK_QUEUE, 0, true],
      [images, 2, true],
      [missing, 0, false],
    ]);
  });

  test("a tab that follows the queues stream gets every queue", async () => {
    // Pushed when it changes; a socket that starts following the stream gets the current value at once.
    const all = await stack.connectSocket(stack.nodes[0], { auth: { streams: [] } });
    const pushed = nextEvent(all, "queues:stats", (list) => list.queues.some((q) => q.queue === images));
    assert.deepEqual(await all.timeout(5000).emitWithAck("streams:follow", ["queues"]), { streams: ["queues"] });
    const list = await pushed;
    assert.deepEqual(list.queues.map((q) => q.queue), [stack.config.TASK_QUEUE, images, missing]);
    assert.equal(list.queues[1].ready, 2);
    all.disconnect();
  });

  test("each queue's depth is sampled into the activity series, TASK_QUEUE's in ready and unacked as before", async () => {
    const s = await eventually(async () => {
      const got = StatsSeriesSchema.parse((await api(stack.nodes[0], "/api/stats/series?minutes=1")).body);
      return got.queues.length === 2 && got.ready.some((v) => v !== null) ? got : undefined;
    }, "both outside queues in the series");
    assert.deepEqual(s.queues.map((q) => q.queue), [images, missing]);
    const latest = (values: Array<number | null>) => values.filter((v) => v !== null).at(-1);
    assert.equal(latest(s.queues[0].ready), 2);
    assert.equal(latest(s.queues[0].unacked), 1);
    assert.equal(latest(s.queues[1].unacked), 5);
    assert.equal(latest(s.ready), 0);
    assert.equal(latest(s.unacked), 0);
    for (const q of s.queues) assert.equal(q.ready.length, s.time.length);
  });

  test("the queue gauges carry each queue in their queue label", async () => {
    const text = await eventually(async () => {
      const body = await (await fetch(`${stack.nodes[0].url}/metrics`)).text();
      return sample(body, "taskcast_queue_consumers", { queue: images }) === 1 ? body : undefined;
    }, "the second queue in the metrics");
    assert.equal(sample(text, "taskcast_queue_messages", { queue: images, state: "ready" }), 2);
    assert.equal(sample(text, "taskcast_queue_messages", { queue: images, state: "unacked" }), 1);
    assert.equal(sample(text, "taskcast_queue_messages", { queue: missing, state: "unacked" }), 5);
    assert.equal(sample(text, "taskcast_queue_consumers", { queue: stack.config.TASK_QUEUE }), 1);
    assert.equal(sample(text, "taskcast_queue_messages", { queue: stack.config.TASK_QUEUE, state: "ready" }), 0);
  });
});
