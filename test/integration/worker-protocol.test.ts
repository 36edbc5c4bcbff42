// Worker protocol v1 against the real RabbitMQ and Redis: an outside worker, simulated here with amqplib as a
// PHP or Python one would be written from docs/worker-protocol.md, runs tasks through Taskcast's web node alone.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { connect, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from "amqplib";
import type { TaskRecord } from "../../lib/contract";
import type { WorkerList } from "../../lib/insights";
import { newTaskRecord } from "../../lib/task-lifecycle";
import { eventsQueueName, RunVerdictSchema, type RunVerdict } from "../../lib/worker-protocol";
import { deadQueueName, REASON_HEADER, retryQueueName, topologyFor, workQueueArguments } from "../../server/queue/topology";
import { redisKeys } from "../../server/redis/keys";
import { TaskStore } from "../../server/store/task-store";
import { backoffDelay, DEFAULT_RETRY } from "../../server/tasks/define-task";
import { FaultProxy } from "../helpers/fault-proxy";
import { sample } from "../helpers/metrics-text";
import { api, eventually, postJson, startStack, type Stack } from "../helpers/stack";
import { taskOf, waitForStatus } from "../helpers/tasks";

/** An outside worker as the protocol page describes it: consumes its queue, announces, reports with confirms. */
class OutsideWorker {
  readonly id = `php-${randomUUID().slice(0, 8)}`;
  /** Its own type, so that workers of earlier tests (live for 15 s) do not hold it on their queues. */
  readonly type = `resize-${this.id.slice(4)}`;
  private channel!: ConfirmChannel;
  private readonly verdicts = new Map<string, (v: RunVerdict) => void>();
  readonly deliveries: ConsumeMessage[] = [];
  private waiting?: () => void;

  constructor(
    private readonly model: ChannelModel,
    private readonly events: string,
    readonly queue: string,
  ) {}

  /** Announces itself, waits for Taskcast to declare its queue (as the protocol says), then consumes it. */
  async start(): Promise<void> {
    this.channel = await this.model.createConfirmChannel();
    await this.announce();
    await eventually(async () => {
      const probe = await this.model.createChannel();
      probe.on("error", () => undefined);
      const found = await probe.checkQueue(this.queue).then(() => true, () => false);
      await probe.close().catch(() => undefined);
      return found || undefined;
    }, `Taskcast declaring ${this.queue}`);
    await this.channel.prefetch(4);
    // Direct reply-to: Taskcast's verdicts on `running` reports come back on this channel.
    await this.channel.consume(
      "amq.rabbitmq.reply-to",
      (m) => {
        if (!m) return;
        const verdict = RunVerdictSchema.parse(JSON.parse(m.content.toString()));
        this.verdicts.get(String(m.properties.correlationId))?.(verdict);
      },
      { noAck: true },
    );
    await this.channel.consume(this.queue, (m) => {
      if (!m) return;
      this.deliveries.push(m);
      this.waiting?.();
    });
  }

  /** The next delivery not yet taken. */
  async nextDelivery(taken: number, timeoutMs = 15_000): Promise<ConsumeMessage> {
    return eventually(async () => this.deliveries[taken], `delivery ${taken + 1} of ${this.queue}`, timeoutMs, 20);
  }

  async announce(types = [{ name: this.type, description: "Resizes an image", example: { width: 100 } }]): Promise<void> {
    await this.publish({ kind: "worker", v: 1, worker: this.id, queue: this.queue, types, concurrency: 4, inflight: this.deliveries.length, language: "php", host: "php-box" });
  }

  /** Publishes a report persistently and waits for RabbitMQ's confirm. */
  async report(id: string, status: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.publish({ kind: "task", v: 1, id, worker: this.id, status, ...extra });
  }

  /** `running`, asking for Taskcast's verdict: run it, or skip it. */
  async claim(id: string, extra: Record<string, unknown> = {}): Promise<RunVerdict> {
    const correlationId = randomUUID();
    const verdict = new Promise<RunVerdict>((resolve) => this.verdicts.set(correlationId, resolve));
    await this.publish({ kind: "task", v: 1, id, worker: this.id, status: "running", ...extra }, { replyTo: "amq.rabbitmq.reply-to", correlationId });
    return withTimeout(verdict, 10_000, `verdict on task ${id}`);
  }

  async publishRaw(body: Buffer): Promise<void> {
    this.channel.sendToQueue(this.events, body, { persistent: true });
    await this.channel.waitForConfirms();
  }

  ack(m: ConsumeMessage): void {
    this.channel.ack(m);
  }

  /** Dies as a killed process would: its channel closes, and RabbitMQ gives its deliveries to another consumer. */
  async close(): Promise<void> {
    await this.channel.close();
  }

  private async publish(body: object, properties: { replyTo?: string; correlationId?: string } = {}): Promise<void> {
    this.channel.sendToQueue(this.events, Buffer.from(JSON.stringify(body)), { persistent: true, contentType: "application/json", ...properties });
    await this.channel.waitForConfirms();
  }
}

/** An outside worker on a queue of its own (noted in `queues` for cleanup), started as the protocol says. */
async function startedWorker(model: ChannelModel, stack: Stack, queues: string[]): Promise<OutsideWorker> {
  // Not under TASK_QUEUE's name: names starting "<TASK_QUEUE>." are Taskcast's own.
  const queue = `outside-${randomUUID().slice(0, 8)}-${stack.config.TASK_QUEUE}`;
  queues.push(queue);
  const w = new OutsideWorker(model, eventsQueueName(stack.config.TASK_QUEUE), queue);
  await w.start();
  return w;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms).unref())]);
}


describe("worker protocol v1: an outside worker", () => {
  let stack: Stack;
  let model: ChannelModel;
  let store: TaskStore;
  const queues: string[] = [];

  before(async () => {
    // No Taskcast worker at all: the web nodes alone apply the outside worker's events, both at once.
    stack = await startStack({ webNodes: 2, workers: 0 });
    model = await connect(stack.config.rabbitmqUrls[0]);
    store = new TaskStore(stack.redis, redisKeys(stack.config.KEY_PREFIX), stack.config.TASK_HISTORY_LIMIT);
  });
  after(async () => {
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    const delays = [1, 2].map((a) => backoffDelay(DEFAULT_RETRY, a));
    for (const q of queues) for (const name of [q, ...delays.map((d) => retryQueueName(q, d))]) await ch.deleteQueue(name).catch(() => undefined);
    await model.close();
    await stack.close();
  });

  const worker = () => startedWorker(model, stack, queues);

  /** A queued task of an outside type and its message in the worker's queue (routing by type is not built yet). */
  async function enqueue(w: OutsideWorker, payload: Record<string, unknown> = { width: 10 }): Promise<string> {
    const id = randomUUID();
    assert.ok(await store.create(newTaskRecord({ type: "submit", id, taskType: w.type, payload, priority: 0, at: new Date().toISOString() })));
    const ch = await model.createConfirmChannel();
    ch.sendToQueue(w.queue, Buffer.from(JSON.stringify({ type: w.type, payload, id })), { persistent: true, messageId: id, contentType: "application/json" });
    await ch.waitForConfirms();
    await ch.close();
    return id;
  }

  test("runs a task to succeeded with progress, listed with its language and host, its type offered with its queue", async () => {
    const w = await worker();
    const listed = await eventually(async () => {
      const { body } = await api(stack.nodes[0], "/api/workers");
      return (body as WorkerList).workers.find((x) => x.id === w.id && x.state === "live");
    }, "the outside worker in GET /api/workers");
    assert.equal(listed.language, "php");
    assert.equal(listed.host, "php-box");
    assert.equal(listed.queue, w.queue);
    const { body: types } = await api(stack.nodes[0], "/api/task-types");
    assert.deepEqual((types as { types: Array<{ name: string; queue?: string }> }).types.find((t) => t.name === w.type), { name: w.type, description: "Resizes an image", example: { width: 100 }, queue: w.queue });

    const id = await enqueue(w);
    const delivery = await w.nextDelivery(0);
    assert.deepEqual(JSON.parse(delivery.content.toString()), { type: w.type, payload: { width: 10 }, id });
    const verdict = await w.claim(id);
    assert.deepEqual(verdict, { v: 1, id, run: true, status: "running", attempt: 1 });
    await w.report(id, "running", { progress: 0.5 });
    const running = await eventually(async () => {
      const t = await taskOf(stack, id);
      return t?.progress === 0.5 ? t : undefined;
    }, "progress 0.5");
    assert.equal(running.status, "running");
    assert.equal(running.worker, w.id);
    await w.report(id, "succeeded", { result: { url: "/img/1.png" } });
    w.ack(delivery);
    const done = await waitForStatus(stack, id, ["succeeded", "failed", "dead"]);
    assert.equal(done.status, "succeeded");
    assert.deepEqual(done.result, { url: "/img/1.png" });
    assert.equal(done.progress, 1);
    assert.equal(done.attempts, 1);
    assert.deepEqual(done.attemptLog.map((a) => [a.attempt, a.worker, a.outcome]), [[1, w.id, "succeeded"]]);
  });

  test("an error report is retried by the task type's policy, back in the worker's queue, then the task goes dead", async () => {
    const w = await worker();
    const id = await enqueue(w);
    for (let attempt = 1; attempt <= DEFAULT_RETRY.maxAttempts; attempt++) {
      const delivery = await w.nextDelivery(attempt - 1);
      assert.equal(delivery.properties.messageId, id);
      if (attempt > 1) {
        // The duplicate error and the late progress sent with the first attempt counted nothing.
        const waiting = await taskOf(stack, id);
        assert.equal(waiting?.attempts, attempt - 1);
      }
      const verdict = await w.claim(id);
      assert.equal(verdict.run, true, `attempt ${attempt}: ${JSON.stringify(verdict)} ${JSON.stringify(await taskOf(stack, id))}`);
      // The first attempt's error comes four times at once, spread over both web nodes' consumers, then a late progress.
      await Promise.all(Array.from({ length: attempt === 1 ? 4 : 1 }, () => w.report(id, "error", { error: `disk full ${attempt}` })));
      if (attempt === 1) await w.report(id, "running", { progress: 0.9 });
      w.ack(delivery);
      if (attempt < DEFAULT_RETRY.maxAttempts) {
        const retrying = await waitForStatus(stack, id, ["retrying"]);
        assert.equal(retrying.attempts, attempt);
      }
    }
    const dead = await waitForStatus(stack, id, ["dead"]);
    assert.equal(dead.attempts, 3);
    assert.match(dead.error ?? "", /Failed 3 of 3 attempts; last error: disk full 3/);
    assert.deepEqual(dead.attemptLog.map((a) => a.outcome), ["error", "error", "error"]);
    assert.equal(w.deliveries.length, 3);
    const ch = await model.createChannel();
    const copy = await eventually(async () => (await ch.get(deadQueueName(stack.config.TASK_QUEUE), { noAck: true })) || undefined, "the dead-letter copy");
    await ch.close();
    assert.equal(copy.properties.messageId, id);
    assert.match(String(copy.properties.headers?.[REASON_HEADER]), /disk full 3/);
  });

  test("a duplicate final event, a late progress and a late running change nothing", async () => {
    const w = await worker();
    const id = await enqueue(w);
    const delivery = await w.nextDelivery(0);
    assert.equal((await w.claim(id)).run, true);
    await w.report(id, "succeeded", { result: { n: 1 } });
    w.ack(delivery);
    const done = await waitForStatus(stack, id, ["succeeded"]);
    await w.report(id, "succeeded", { result: { n: 2 } });
    await w.report(id, "failed", { error: "too late" });
    await w.report(id, "error", { error: "too late" });
    await w.report(id, "running", { progress: 0.3 });
    // Reports of one task are applied in order: this verdict comes after all of the above were.
    assert.deepEqual(await w.claim(id), { v: 1, id, run: false, status: "succeeded" });
    const later = (await taskOf(stack, id)) as TaskRecord;
    assert.equal(later.version, done.version);
    assert.deepEqual(later, done);
  });

  test("a task cancelled while it waited is skipped: the verdict says so and nothing new is recorded", async () => {
    const w = await worker();
    const id = await enqueue(w);
    const delivery = await w.nextDelivery(0);
    const cancelled = await api(stack.nodes[0], `/api/tasks/${id}/cancel`, { method: "POST" });
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    assert.deepEqual(await w.claim(id), { v: 1, id, run: false, status: "cancelled" });
    w.ack(delivery);
    const task = (await taskOf(stack, id)) as TaskRecord;
    assert.equal(task.status, "cancelled");
    assert.equal(task.attempts, 0);
    assert.equal(task.awaitingDelivery, undefined);
  });

  test("while its queue is paused a verdict request is answered paused and records nothing; a running attempt's re-check goes on", async () => {
    const w = await worker();
    const first = await enqueue(w);
    const firstDelivery = await w.nextDelivery(0);
    assert.equal((await w.claim(first)).run, true);
    const path = (action: string) => `/api/queues/${encodeURIComponent(w.queue)}/${action}`;
    assert.equal((await api(stack.nodes[0], path("pause"), { method: "POST" })).status, 200);
    const second = await enqueue(w);
    const secondDelivery = await w.nextDelivery(1);
    try {
      assert.deepEqual(await w.claim(second), { v: 1, id: second, run: false, status: "paused" });
      const waiting = (await taskOf(stack, second)) as TaskRecord;
      assert.deepEqual([waiting.status, waiting.attempts, waiting.worker], ["queued", 0, undefined]);
      // The task already running re-checks naming its attempt (as for a cancel): it goes on.
      assert.deepEqual(await w.claim(first, { attempt: 1 }), { v: 1, id: first, run: true, status: "running", attempt: 1 });
    } finally {
      assert.equal((await api(stack.nodes[1], path("resume"), { method: "POST" })).status, 200);
    }
    assert.deepEqual(await w.claim(second), { v: 1, id: second, run: true, status: "running", attempt: 1 });
    for (const [id, delivery] of [[first, firstDelivery], [second, secondDelivery]] as const) {
      await w.report(id, "succeeded", { attempt: 1, result: {} });
      w.ack(delivery);
      assert.equal((await waitForStatus(stack, id, ["succeeded", "failed", "dead"])).status, "succeeded");
    }
  });

  test("a worker killed mid-task: the redelivery runs at once on the next worker, the first attempt counted as interrupted", async () => {
    const w = await worker();
    const id = await enqueue(w);
    await w.nextDelivery(0);
    assert.equal((await w.claim(id)).run, true);
    const next = new OutsideWorker(model, eventsQueueName(stack.config.TASK_QUEUE), w.queue);
    await next.start();
    // Killed: it still counts as live for 15 s, but RabbitMQ has taken its delivery back.
    await w.close();
    const again = await next.nextDelivery(0);
    assert.equal(again.fields.redelivered, true);
    const verdict = await next.claim(id, { redelivered: true });
    assert.deepEqual([verdict.run, verdict.attempt], [true, 2]);
    await next.report(id, "succeeded", { result: "second", attempt: 2 });
    next.ack(again);
    const done = await waitForStatus(stack, id, ["succeeded"]);
    assert.equal(done.worker, next.id);
    assert.equal(done.attempts, 2);
    assert.deepEqual(done.attemptLog.map((a) => [a.worker, a.outcome]), [[w.id, "interrupted"], [next.id, "succeeded"]]);
  });

  test("reports naming an attempt that is over change nothing, however late they come", async () => {
    const w = await worker();
    const id = await enqueue(w);
    const first = await w.nextDelivery(0);
    assert.equal((await w.claim(id)).attempt, 1);
    await w.report(id, "error", { error: "timed out", attempt: 1 });
    w.ack(first);
    const second = await w.nextDelivery(1);
    assert.equal((await w.claim(id)).attempt, 2);
    // Copies of attempt 1's reports, as a redelivered events message brings them during attempt 2.
    await w.report(id, "error", { error: "timed out", attempt: 1 });
    await w.report(id, "running", { progress: 0.9, attempt: 1 });
    await w.report(id, "succeeded", { result: "ok", attempt: 2 });
    w.ack(second);
    const done = await waitForStatus(stack, id, ["succeeded"]);
    assert.equal(done.attempts, 2);
    assert.deepEqual(done.attemptLog.map((a) => a.outcome), ["error", "succeeded"]);
    // No further retry was parked for the late error.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(w.deliveries.length, 2);
    assert.equal((await taskOf(stack, id))?.status, "succeeded");
  });

  test("a cancel asked for while its worker holds the delivery ends the attempt when that worker asks again", async () => {
    const w = await worker();
    const id = await enqueue(w);
    const delivery = await w.nextDelivery(0);
    assert.equal((await w.claim(id)).run, true);
    const cancelled = await api(stack.nodes[0], `/api/tasks/${id}/cancel`, { method: "POST" });
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    // As after a verdict that came too late and a requeue: the same worker asks again, without an attempt.
    assert.deepEqual(await w.claim(id), { v: 1, id, run: false, status: "cancelled" });
    w.ack(delivery);
    const task = (await taskOf(stack, id)) as TaskRecord;
    assert.equal(task.status, "cancelled");
    assert.deepEqual(task.attemptLog.map((a) => a.outcome), ["cancelled"]);
  });

  test("a task whose outside worker stops announcing stalls after 15 s, not 5, and its next report resumes it", async () => {
    const w = await worker();
    const id = await enqueue(w);
    await w.nextDelivery(0);
    assert.equal((await w.claim(id)).run, true);
    // No more announcements. A Taskcast worker would count as gone after 5 s (and the sweep runs every 2 s).
    const silentSince = Date.now();
    const stalled = await waitForStatus(stack, id, ["stalled"], 25_000);
    const silentMs = Date.now() - silentSince;
    assert.ok(silentMs >= 14_000, `stalled after ${silentMs} ms of silence`);
    assert.equal(stalled.worker, w.id);
    await w.announce();
    await w.report(id, "running", { progress: 0.7 });
    const resumed = await eventually(async () => {
      const t = await taskOf(stack, id);
      return t?.status === "running" && t.progress === 0.7 ? t : undefined;
    }, "the task running again");
    assert.equal(resumed.attempts, 1);
  });

  test("malformed events are counted and logged, change no record, and the next good event still applies", async () => {
    const w = await worker();
    const id = await enqueue(w);
    const delivery = await w.nextDelivery(0);
    assert.equal((await w.claim(id)).run, true);
    const claimed = (await taskOf(stack, id)) as TaskRecord;
    const other = await worker();

    await w.publishRaw(Buffer.from("this is not json"));
    await w.publishRaw(Buffer.from(JSON.stringify({ kind: "task", v: 1, id })));
    await w.publishRaw(Buffer.from(JSON.stringify({ kind: "task", v: 2, id, worker: w.id, status: "succeeded" })));
    await w.publishRaw(Buffer.from(JSON.stringify({ kind: "task", v: 1, id, worker: w.id, status: "running", progress: 7 })));
    await w.report(`no-such-${randomUUID()}`, "succeeded");
    // Another live worker claims a task this one runs.
    await other.report(id, "succeeded", { result: "stolen" });

    const metrics = await eventually(async () => {
      const texts = await Promise.all(stack.nodes.map(async (node) => (await fetch(`${node.url}/metrics`)).text()));
      const counts = ["not-json", "bad-shape", "unknown-task", "not-applicable"].map((reason) => texts.reduce((sum, text) => sum + (sample(text, "taskcast_worker_events_refused_total", { reason }) ?? 0), 0));
      return counts[0] >= 1 && counts[1] >= 3 && counts[2] >= 1 && counts[3] >= 1 ? counts : undefined;
    }, "the refused events in the metrics");
    assert.deepEqual(metrics, [1, 3, 1, 1]);
    const unchanged = (await taskOf(stack, id)) as TaskRecord;
    assert.equal(unchanged.version, claimed.version);
    assert.equal(unchanged.status, "running");

    await w.report(id, "succeeded", { result: "mine" });
    w.ack(delivery);
    const done = await waitForStatus(stack, id, ["succeeded"]);
    assert.equal(done.result, "mine");
    assert.equal(done.worker, w.id);
  });
});

describe("worker protocol v1: the submitter's reply", () => {
  let stack: Stack;
  let model: ChannelModel;
  let store: TaskStore;
  let w: OutsideWorker;
  const replies: ConsumeMessage[] = [];
  let replyQueue: string;

  before(async () => {
    // One web node: reports of one task are then applied strictly in order, so a verdict proves what came before it was applied.
    stack = await startStack({ webNodes: 1, workers: 0 });
    model = await connect(stack.config.rabbitmqUrls[0]);
    store = new TaskStore(stack.redis, redisKeys(stack.config.KEY_PREFIX), stack.config.TASK_HISTORY_LIMIT);
    const ch = await model.createChannel();
    replyQueue = (await ch.assertQueue("", { exclusive: true })).queue;
    await ch.consume(replyQueue, (m) => void (m && replies.push(m)), { noAck: true });
    w = new OutsideWorker(model, eventsQueueName(stack.config.TASK_QUEUE), `outside-${randomUUID().slice(0, 8)}-${stack.config.TASK_QUEUE}`);
    await w.start();
    await w.announce();
  });
  after(async () => {
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    for (const name of [w.queue, retryQueueName(w.queue, backoffDelay(DEFAULT_RETRY, 1))]) await ch.deleteQueue(name).catch(() => undefined);
    await model.close();
    await stack.close();
  });

  async function enqueue(correlationId: string): Promise<string> {
    const id = randomUUID();
    assert.ok(await store.create(newTaskRecord({ type: "submit", id, taskType: w.type, payload: {}, priority: 0, at: new Date().toISOString() })));
    const ch = await model.createConfirmChannel();
    ch.sendToQueue(w.queue, Buffer.from(JSON.stringify({ type: w.type, payload: {}, id })), { persistent: true, messageId: id, replyTo: replyQueue, correlationId });
    await ch.waitForConfirms();
    await ch.close();
    return id;
  }

  /** What the protocol asks a worker to copy from a delivery into its reports. */
  const carried = (m: ConsumeMessage) => ({ reply_to: m.properties.replyTo, correlation_id: m.properties.correlationId });

  test("one reply, after a retry and despite a duplicate final report; the retried delivery keeps reply_to", async () => {
    const correlationId = randomUUID();
    const id = await enqueue(correlationId);
    const first = await w.nextDelivery(0);
    assert.equal((await w.claim(id, carried(first))).run, true);
    await w.report(id, "error", { error: "try again", ...carried(first) });
    w.ack(first);
    const second = await w.nextDelivery(1);
    assert.equal(second.properties.replyTo, replyQueue);
    assert.equal(second.properties.correlationId, correlationId);
    assert.equal((await w.claim(id, carried(second))).run, true);
    await w.report(id, "succeeded", { result: { ok: true }, ...carried(second) });
    w.ack(second);
    await w.report(id, "succeeded", { result: { ok: true }, ...carried(second) });
    assert.equal((await w.claim(id, carried(second))).run, false);
    await eventually(async () => replies.find((m) => m.properties.correlationId === correlationId), "the reply");
    const ours = replies.filter((m) => m.properties.correlationId === correlationId);
    assert.equal(ours.length, 1);
    const record = JSON.parse(ours[0].content.toString()) as TaskRecord;
    assert.equal(record.status, "succeeded");
    assert.equal(record.attempts, 2);
    assert.equal((await taskOf(stack, id))?.reply?.state, "sent");
  });

  test("a task cancelled while it waited still gets its one reply when the worker meets it", async () => {
    const correlationId = randomUUID();
    const id = await enqueue(correlationId);
    const delivery = await w.nextDelivery(2);
    assert.equal((await api(stack.nodes[0], `/api/tasks/${id}/cancel`, { method: "POST" })).status, 202);
    assert.equal((await w.claim(id, carried(delivery))).run, false);
    w.ack(delivery);
    const reply = await eventually(async () => replies.find((m) => m.properties.correlationId === correlationId), "the reply");
    assert.equal((JSON.parse(reply.content.toString()) as TaskRecord).status, "cancelled");
  });
});

describe("worker protocol v1: routing by type", () => {
  let stack: Stack;
  let model: ChannelModel;
  const queues: string[] = [];

  before(async () => {
    // One Taskcast worker: it runs the built-in types, and forwards outside types that reach TASK_QUEUE.
    stack = await startStack({ webNodes: 1, workers: 1 });
    model = await connect(stack.config.rabbitmqUrls[0]);
  });
  after(async () => {
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    for (const q of queues) await ch.deleteQueue(q).catch(() => undefined);
    await model.close();
    await stack.close();
  });

  const worker = () => startedWorker(model, stack, queues);

  /** Whether `queue` exists with exactly these arguments (RabbitMQ refuses a declaration with other ones). */
  async function declaredWith(queue: string, args: Record<string, unknown>): Promise<boolean> {
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    const same = await ch.assertQueue(queue, { durable: true, arguments: args }).then(() => true, () => false);
    await ch.close().catch(() => undefined);
    return same;
  }

  test("a submission of an announced type goes to its worker's queue, which Taskcast declared like the work queue", async () => {
    const w = await worker();
    assert.equal(await declaredWith(w.queue, workQueueArguments(topologyFor(stack.config))), true);
    assert.equal(await declaredWith(w.queue, {}), false);

    const { status, body } = await postJson(stack.nodes[0], "/api/tasks", { type: w.type, payload: { width: 5 }, priority: 3 });
    assert.equal(status, 202, JSON.stringify(body));
    const id = (body as TaskRecord).id;
    const delivery = await w.nextDelivery(0);
    assert.deepEqual(JSON.parse(delivery.content.toString()), { type: w.type, payload: { width: 5 }, id });
    assert.equal(delivery.properties.messageId, id);
    assert.equal(delivery.properties.priority, 3);
    assert.equal((await w.claim(id)).run, true);
    await w.report(id, "succeeded", { result: { bytes: 1 } });
    w.ack(delivery);
    assert.equal((await waitForStatus(stack, id, ["succeeded"])).worker, w.id);

    // A batch mixing a built-in type (to TASK_QUEUE, run by the Taskcast worker) and the announced one.
    const batch = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: [{ type: "echo", payload: { message: "x" } }, { type: w.type, payload: { width: 6 } }] });
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    const second = await w.nextDelivery(1);
    assert.deepEqual(JSON.parse(second.content.toString()).payload, { width: 6 });
    w.ack(second);
    const [echo] = (batch.body as { tasks: Array<{ id: string }> }).tasks;
    assert.equal((await waitForStatus(stack, echo.id, ["succeeded"])).type, "echo");
  });

  test("a task of an announced type published to TASK_QUEUE over AMQP is recorded and forwarded to its worker's queue", async () => {
    const w = await worker();
    const id = randomUUID();
    const ch = await model.createConfirmChannel();
    ch.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(JSON.stringify({ type: w.type, payload: { width: 7 }, id })), { persistent: true, messageId: id, correlationId: "c-1", replyTo: "some-reply-queue", priority: 2 });
    await ch.waitForConfirms();
    await ch.close();
    const delivery = await w.nextDelivery(0);
    assert.equal(delivery.properties.messageId, id);
    assert.equal(delivery.properties.replyTo, "some-reply-queue");
    assert.equal(delivery.properties.correlationId, "c-1");
    assert.deepEqual(JSON.parse(delivery.content.toString()), { type: w.type, payload: { width: 7 }, id });
    const queued = (await taskOf(stack, id)) as TaskRecord;
    assert.equal(queued.status, "queued");
    assert.equal(queued.priority, 2);
    assert.equal((await w.claim(id)).run, true);
    await w.report(id, "succeeded", { result: 7 });
    w.ack(delivery);
    assert.equal((await waitForStatus(stack, id, ["succeeded"])).result, 7);
  });

  test("an announced queue that exists with other arguments is left as it is", async () => {
    const queue = `foreign-${randomUUID().slice(0, 8)}-${stack.config.TASK_QUEUE}`;
    queues.push(queue);
    const foreign = { "x-message-ttl": 600_000 };
    const ch = await model.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true, arguments: foreign });
    ch.sendToQueue(queue, Buffer.from("another application's message"), { persistent: true });
    await ch.waitForConfirms();
    const w = new OutsideWorker(model, eventsQueueName(stack.config.TASK_QUEUE), queue);
    ch.sendToQueue(eventsQueueName(stack.config.TASK_QUEUE), Buffer.from(JSON.stringify({ kind: "worker", v: 1, worker: w.id, queue, types: [{ name: w.type }], concurrency: 1, inflight: 0 })), { persistent: true });
    await ch.waitForConfirms();
    // Applied: the type is offered (routed to that queue), but the queue keeps its arguments and its message.
    await eventually(async () => ((await api(stack.nodes[0], "/api/task-types")).body as { types: Array<{ name: string }> }).types.some((t) => t.name === w.type) || undefined, "the type offered");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await declaredWith(queue, foreign), true);
    assert.equal((await ch.checkQueue(queue)).messageCount, 1);
    await ch.close();
  });

  test("a second copy of a task an outside worker runs is not forwarded; reports on built-in tasks are refused", async () => {
    const w = await worker();
    const id = randomUUID();
    const ch = await model.createConfirmChannel();
    const publish = () => ch.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(JSON.stringify({ type: w.type, payload: {}, id })), { persistent: true, messageId: id });
    publish();
    await ch.waitForConfirms();
    const delivery = await w.nextDelivery(0);
    assert.equal((await w.claim(id)).run, true);
    publish();
    await ch.waitForConfirms();
    // The Taskcast worker meets the copy and drops it: the outside worker never gets a second delivery.
    await eventually(async () => ((await ch.checkQueue(stack.config.TASK_QUEUE)).messageCount === 0 ? true : undefined), "the copy taken from TASK_QUEUE");
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(w.deliveries.length, 1);
    await w.report(id, "succeeded", { result: 1, attempt: 1 });
    w.ack(delivery);
    await waitForStatus(stack, id, ["succeeded"]);

    // A task of a built-in type, queued (its record alone, no message): an outside worker cannot start or settle it.
    const store = new TaskStore(stack.redis, redisKeys(stack.config.KEY_PREFIX), stack.config.TASK_HISTORY_LIMIT);
    const echo = randomUUID();
    assert.ok(await store.create(newTaskRecord({ type: "submit", id: echo, taskType: "echo", payload: { message: "x" }, priority: 0, at: new Date().toISOString() })));
    assert.deepEqual(await w.claim(echo), { v: 1, id: echo, run: false, status: "queued" });
    await w.report(echo, "succeeded", { result: "forged" });
    await new Promise((r) => setTimeout(r, 500));
    const still = (await taskOf(stack, echo)) as TaskRecord;
    assert.equal(still.status, "queued");
    assert.equal(still.attempts, 0);
    await ch.close();
  });

  test("a submission to an outside queue that was deleted answers 503 and keeps no record, never a 202 for a lost task", async () => {
    const w = await worker();
    const ch = await model.createChannel();
    await ch.deleteQueue(w.queue);
    await ch.close();
    const { status, body } = await postJson(stack.nodes[0], "/api/tasks", { type: w.type, payload: {} });
    assert.equal(status, 503, JSON.stringify(body));
    assert.match((body as { error: string }).error, /has no queue/);
    // Declared again by Taskcast within about 10 s of the worker's next announcement: then accepted.
    const accepted = await eventually(
      async () => {
        await w.announce();
        const res = await postJson(stack.nodes[0], "/api/tasks", { type: w.type, payload: {} });
        return res.status === 202 ? (res.body as TaskRecord) : undefined;
      },
      "a submission accepted once the queue is back",
      20_000,
      1000,
    );
    const listed = ((await api(stack.nodes[0], "/api/tasks?limit=50")).body as { tasks: TaskRecord[] }).tasks.filter((t) => t.type === w.type);
    assert.deepEqual(listed.map((t) => t.id), [accepted.id]);
  });

  test("a bulk retry of outside tasks' dead letters sends each back to its worker's queue, in one call", async () => {
    const w = await worker();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push(((await postJson(stack.nodes[0], "/api/tasks", { type: w.type, payload: { i } })).body as TaskRecord).id);
    // Every delivery fails with an error until both tasks are dead (3 attempts each, by the default policy).
    let taken = 0;
    for (; taken < 2 * DEFAULT_RETRY.maxAttempts; taken++) {
      const delivery = await w.nextDelivery(taken);
      const id = String(delivery.properties.messageId);
      assert.equal((await w.claim(id)).run, true);
      await w.report(id, "error", { error: "disk full" });
      w.ack(delivery);
    }
    for (const id of ids) await waitForStatus(stack, id, ["dead"]);
    const res = await postJson(stack.nodes[0], "/api/dead-letters/retry", { ids });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body, { count: 2, skipped: [] });
    const again = [await w.nextDelivery(taken), await w.nextDelivery(taken + 1)];
    assert.deepEqual(again.map((m) => String(m.properties.messageId)).sort(), [...ids].sort(), "both back in the worker's queue, not TASK_QUEUE");
    for (const m of again) {
      assert.equal(m.properties.headers?.["x-taskcast-run"], 2);
      w.ack(m);
    }
  });

  test("a bulk retry whose worker's queue was deleted skips those tasks with the reason; they stay dead letters", async () => {
    const w = await worker();
    const id = ((await postJson(stack.nodes[0], "/api/tasks", { type: w.type, payload: {} })).body as TaskRecord).id;
    for (let taken = 0; taken < DEFAULT_RETRY.maxAttempts; taken++) {
      const delivery = await w.nextDelivery(taken);
      assert.equal((await w.claim(id)).run, true);
      await w.report(id, "error", { error: "disk full" });
      w.ack(delivery);
    }
    await waitForStatus(stack, id, ["dead"]);
    const ch = await model.createChannel();
    await ch.deleteQueue(w.queue);
    await ch.close();
    const res = await postJson(stack.nodes[0], "/api/dead-letters/retry", { ids: [id] });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.count, 0);
    assert.equal(res.body.skipped.length, 1);
    assert.equal(res.body.skipped[0].id, id);
    assert.match(res.body.skipped[0].reason, new RegExp(`RabbitMQ has no queue "${w.queue}"`));
    const record = await taskOf(stack, id);
    assert.equal(record?.status, "dead", "put back as it was");
    assert.ok(((await api(stack.nodes[0], "/api/dead-letters")).body.tasks as TaskRecord[]).some((t) => t.id === id), "still listed as a dead letter");
    // Its message is still in the dead-letter queue: a single discard finds and removes it.
    assert.equal((await postJson(stack.nodes[0], "/api/dead-letters/discard", { ids: [id] })).body.count, 1);
  });

  test("an operator's retry of an outside task goes back to its worker's queue", async () => {
    const w = await worker();
    const { body } = await postJson(stack.nodes[0], "/api/tasks", { type: w.type, payload: {} });
    const id = (body as TaskRecord).id;
    const first = await w.nextDelivery(0);
    assert.equal((await w.claim(id)).run, true);
    await w.report(id, "failed", { error: "bad image" });
    w.ack(first);
    await waitForStatus(stack, id, ["failed"]);
    const retried = await postJson(stack.nodes[0], `/api/tasks/${id}/retry`, {});
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    const again = await w.nextDelivery(1);
    assert.equal(again.properties.messageId, id);
    assert.equal(again.properties.headers?.["x-taskcast-run"], 2);
    w.ack(again);
  });

  test("unknown types are refused naming the known ones; Taskcast's own queues cannot be announced", async () => {
    const w = await worker();
    const unknown = await postJson(stack.nodes[0], "/api/tasks", { type: "no-such-type", payload: {} });
    assert.equal(unknown.status, 400);
    const { error } = unknown.body as { error: string };
    assert.match(error, /^Unknown task type "no-such-type"\. Known types: sleep, echo, fail, flaky, .*\.$/);
    assert.ok(error.includes(w.type), error);

    const intruder = new OutsideWorker(model, eventsQueueName(stack.config.TASK_QUEUE), stack.config.TASK_QUEUE);
    const channel = await model.createConfirmChannel();
    const grab = { kind: "worker", v: 1, worker: intruder.id, queue: stack.config.TASK_QUEUE, types: [{ name: intruder.type }], concurrency: 1, inflight: 0 };
    channel.sendToQueue(eventsQueueName(stack.config.TASK_QUEUE), Buffer.from(JSON.stringify(grab)), { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
    await eventually(async () => (sample(await (await fetch(`${stack.nodes[0].url}/metrics`)).text(), "taskcast_worker_events_refused_total", { reason: "not-applicable" }) ?? 0) >= 1 || undefined, "the announcement refused");
    const { body } = await api(stack.nodes[0], "/api/task-types");
    assert.equal((body as { types: Array<{ name: string }> }).types.some((t) => t.name === intruder.type), false);
    assert.equal((await postJson(stack.nodes[0], "/api/tasks", { type: intruder.type, payload: {} })).status, 400);
  });
});

describe("worker protocol v1: a final report during a Redis outage", () => {
  let stack: Stack;
  let model: ChannelModel;
  let proxy: FaultProxy;
  let queue: string;

  before(async () => {
    const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
    proxy = await FaultProxy.start(redisUrl);
    stack = await startStack({ webNodes: 1, workers: 0, env: { REDIS_URL: proxy.via(redisUrl) } });
    model = await connect(stack.config.rabbitmqUrls[0]);
  });
  after(async () => {
    proxy.restore();
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    await ch.deleteQueue(queue).catch(() => undefined);
    await model.close();
    await stack.close();
    await proxy.close();
  });

  test("is applied once Redis is back, however long the outage (the worker has acked its delivery)", async () => {
    queue = `outside-${randomUUID().slice(0, 8)}-${stack.config.TASK_QUEUE}`;
    const w = new OutsideWorker(model, eventsQueueName(stack.config.TASK_QUEUE), queue);
    await w.start();
    const { body } = await postJson(stack.nodes[0], "/api/tasks", { type: w.type, payload: {} });
    const id = (body as TaskRecord).id;
    const delivery = await w.nextDelivery(0);
    assert.equal((await w.claim(id)).attempt, 1);
    // Redis stops answering for longer than the web node keeps trying (6 tries over about 14 s); the report is sent, confirmed, and the delivery acked.
    proxy.blackhole();
    await w.report(id, "succeeded", { result: "made it", attempt: 1 });
    w.ack(delivery);
    await new Promise((r) => setTimeout(r, 16_000));
    // Commands sent meanwhile are lost with their connections, as when Redis itself was down.
    proxy.cut();
    proxy.restore();
    const done = await waitForStatus(stack, id, ["succeeded"], 30_000);
    assert.equal(done.result, "made it");
  });
});
