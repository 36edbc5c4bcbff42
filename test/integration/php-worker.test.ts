// The PHP example worker (examples/php-worker/worker.php, php-amqplib) as a real process against real RabbitMQ and
// Redis and a Taskcast web node: it runs tasks with Taskcast's guarantees (retries, dead letters, reply once, cancel).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import { connect, type ChannelModel, type ConsumeMessage } from "amqplib";
import type { TaskRecord } from "../../lib/contract";
import { deadQueueName, REASON_HEADER, retryQueueName, topologyFor, workQueueArguments } from "../../server/queue/topology";
import { backoffDelay, DEFAULT_RETRY } from "../../server/tasks/define-task";
import { spawnExampleWorker, stopExampleWorker, type ExampleWorker } from "../helpers/example-workers";
import { api, eventually, startStack, type Stack } from "../helpers/stack";
import { submit, taskOf, waitForStatus } from "../helpers/tasks";

describe("the PHP example worker", () => {
  let stack: Stack;
  let model: ChannelModel;
  // One queue for every test: a type stays with the queue a live worker first offered it on.
  let queue: string;
  let running: ExampleWorker[] = [];

  before(async () => {
    // One Taskcast worker: it forwards tasks of the PHP worker's type that AMQP submitters publish to TASK_QUEUE.
    stack = await startStack({ webNodes: 1, workers: 1 });
    model = await connect(stack.config.rabbitmqUrls[0]);
    queue = `${stack.config.TASK_QUEUE}-images`;
  });
  // Each test's workers stop with it, so the next test's tasks go to its own.
  afterEach(async () => {
    await Promise.all(running.map(stopExampleWorker));
    running = [];
  });
  after(async () => {
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    const delays = [1, 2].map((a) => backoffDelay(DEFAULT_RETRY, a));
    for (const name of [queue, ...delays.map((d) => retryQueueName(queue, d))]) await ch.deleteQueue(name).catch(() => undefined);
    await model.close();
    await stack.close();
  });

  async function php(): Promise<ExampleWorker> {
    const w = await spawnExampleWorker(stack, "php", queue);
    running.push(w);
    return w;
  }

  const resize = (payload: Record<string, unknown>) => submit(stack, { type: "resize", payload });

  const progressOf = (id: string, atLeast: number) =>
    eventually(async () => {
      const t = await taskOf(stack, id);
      return t?.status === "running" && (t.progress ?? 0) >= atLeast && (t.progress ?? 0) < 1 ? t : undefined;
    }, `task ${id} running with progress ≥ ${atLeast}`, 15_000, 20);

  test("announces, consumes the queue Taskcast declared for it, and runs a submitted task: progress, then the result", async () => {
    const w = await php();
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    // Taskcast declared it like the work queue: the same arguments are accepted, plain durable ones refused.
    await ch.assertQueue(queue, { durable: true, arguments: workQueueArguments(topologyFor(stack.config)) });
    await assert.rejects(ch.assertQueue(queue, { durable: true }));
    const listed = await eventually(async () => {
      const { body } = await api(stack.nodes[0], "/api/workers");
      return (body as { workers: Array<{ id: string; state: string; language?: string; queue?: string }> }).workers.find((x) => x.id === w.id && x.state === "live");
    }, "the PHP worker in GET /api/workers");
    assert.equal(listed.language, "php");
    assert.equal(listed.queue, queue);

    const id = await resize({ width: 64, height: 48, steps: 4, stepMs: 300 });
    const inProgress = await progressOf(id, 0.25);
    assert.equal(inProgress.worker, w.id);
    const done = await waitForStatus(stack, id, ["succeeded", "failed", "dead"]);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.deepEqual(done.result, { width: 64, height: 48, bytes: 64 * 48 * 3 });
    assert.equal(done.worker, w.id);
    assert.deepEqual(done.attemptLog.map((a) => [a.attempt, a.worker, a.outcome]), [[1, w.id, "succeeded"]]);
  });

  test("a bad payload fails at once, without retries", async () => {
    await php();
    const id = await resize({ width: "wide" });
    const done = await waitForStatus(stack, id, ["succeeded", "failed", "dead"]);
    assert.equal(done.status, "failed");
    assert.match(done.error ?? "", /payload\.width must be an integer/);
    assert.equal(done.attempts, 1);
  });

  test("killed (SIGKILL) mid-task: the task is redelivered to a second PHP worker and finishes once", async () => {
    const first = await php();
    const id = await resize({ width: 10, height: 10, steps: 16, stepMs: 250 });
    await progressOf(id, 0.1);
    const second = await php();
    first.process.kill("SIGKILL");
    await first.exited;
    // Taskcast counts the first worker gone 15 s after its last announcement; until then the second one waits.
    const done = await waitForStatus(stack, id, ["succeeded", "failed", "dead"], 45_000);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.equal(done.worker, second.id);
    assert.equal(done.attempts, 2);
    assert.deepEqual(done.attemptLog.map((a) => [a.attempt, a.worker, a.outcome]), [
      [1, first.id, "interrupted"],
      [2, second.id, "succeeded"],
    ]);
    assert.deepEqual(done.result, { width: 10, height: 10, bytes: 300 });
    // The second worker ran it once and reported it once. It logs the report after sending it, so the line can
    // come a moment after the record changed.
    const reportedLines = () => second.lines().filter((l) => l.msg === "task reported" && l.taskId === id);
    await eventually(async () => (reportedLines().length > 0 ? true : undefined), "the second worker's report line", 5000);
    assert.deepEqual(reportedLines().map((l) => l.status), ["succeeded"]);
  });

  test("stopped (SIGTERM) mid-task: finishes the task at hand, then exits", async () => {
    const w = await php();
    const id = await resize({ width: 3, height: 3, steps: 4, stepMs: 300 });
    await progressOf(id, 0.25);
    w.process.kill("SIGTERM");
    assert.equal(await w.exited, 0, w.output());
    const done = (await taskOf(stack, id)) as TaskRecord;
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.equal(done.attempts, 1);
  });

  test("an error report is retried by Taskcast's policy; one that always errs ends dead, its copy in <TASK_QUEUE>.dead", async () => {
    await php();
    const flaky = await resize({ width: 10, height: 10, steps: 1, stepMs: 0, transientFailures: 1 });
    const always = await resize({ width: 10, height: 10, steps: 1, stepMs: 0, transientFailures: 100 });

    const recovered = await waitForStatus(stack, flaky, ["succeeded", "failed", "dead"]);
    assert.equal(recovered.status, "succeeded");
    assert.deepEqual(recovered.attemptLog.map((a) => a.outcome), ["error", "succeeded"]);
    assert.match(recovered.attemptLog[0].error ?? "", /simulated transient failure on attempt 1/);

    const dead = await waitForStatus(stack, always, ["succeeded", "failed", "dead"], 20_000);
    assert.equal(dead.status, "dead");
    assert.equal(dead.attempts, DEFAULT_RETRY.maxAttempts);
    assert.deepEqual(dead.attemptLog.map((a) => a.outcome), ["error", "error", "error"]);
    assert.match(dead.error ?? "", /Failed 3 of 3 attempts; last error: simulated transient failure on attempt 3/);
    const ch = await model.createChannel();
    const copy = await eventually(async () => (await ch.get(deadQueueName(stack.config.TASK_QUEUE), { noAck: true })) || undefined, "the dead-letter copy");
    await ch.close();
    assert.equal(copy.properties.messageId, always);
    assert.match(String(copy.properties.headers?.[REASON_HEADER]), /simulated transient failure on attempt 3/);
  });

  test("a task cancelled while queued, with no worker running, is never run once a worker starts", async () => {
    // A worker announced the type a moment ago (submissions need a live one), then stopped.
    await stopExampleWorker(await php());
    const cancelled = await resize({ width: 10, height: 10, steps: 1, stepMs: 0 });
    const next = await resize({ width: 20, height: 20, steps: 1, stepMs: 0 });
    const res = await api(stack.nodes[0], `/api/tasks/${cancelled}/cancel`, { method: "POST" });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const w = await php();
    // The queue is FIFO and the worker runs one task at a time: once the next one is done, the cancelled one was met.
    assert.equal((await waitForStatus(stack, next, ["succeeded", "failed", "dead"])).status, "succeeded");
    const task = (await taskOf(stack, cancelled)) as TaskRecord;
    assert.equal(task.status, "cancelled");
    assert.equal(task.attempts, 0);
    assert.equal(task.result, undefined);
    assert.ok(w.lines().some((l) => l.msg === "skipping the task" && l.taskId === cancelled && l.status === "cancelled"), w.output());
    assert.ok(!w.lines().some((l) => l.msg === "running the task" && l.taskId === cancelled), w.output());
  });

  test("a paused queue: the worker puts its task back and does not run it until the queue is resumed", async () => {
    const w = await php();
    const pause = await api(stack.nodes[0], `/api/queues/${encodeURIComponent(queue)}/pause`, { method: "POST" });
    assert.deepEqual([pause.status, pause.body.paused], [200, true], JSON.stringify(pause.body));
    const id = await resize({ width: 8, height: 8, steps: 1, stepMs: 0 });
    await new Promise((r) => setTimeout(r, 2500));
    const waiting = (await taskOf(stack, id)) as TaskRecord;
    assert.deepEqual([waiting.status, waiting.attempts], ["queued", 0], JSON.stringify(waiting));
    assert.ok(!w.lines().some((l) => l.msg === "running the task" && l.taskId === id), w.output());
    const resumedAt = Date.now();
    assert.equal((await api(stack.nodes[0], `/api/queues/${encodeURIComponent(queue)}/resume`, { method: "POST" })).status, 200);
    const done = await waitForStatus(stack, id, ["succeeded", "failed", "dead"]);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.deepEqual(done.attemptLog.map((a) => a.attempt), [1], "the paused verdicts started no attempt");
    // It asks again about once a second (after a 1 s wait), so it starts within about 2 s of the resume.
    assert.ok(Date.parse(done.attemptLog[0].startedAt) - resumedAt < 2500, `started ${Date.parse(done.attemptLog[0].startedAt) - resumedAt} ms after the resume`);
  });

  test("reply once: an AMQP submitter with reply_to gets exactly one reply, after a retry", async () => {
    const replies: ConsumeMessage[] = [];
    const ch = await model.createConfirmChannel();
    const replyQueue = (await ch.assertQueue("", { exclusive: true })).queue;
    await ch.consume(replyQueue, (m) => void (m && replies.push(m)), { noAck: true });
    await php();
    const correlationId = randomUUID();
    const id = randomUUID();
    // As the AMQP contract says: every task goes to TASK_QUEUE; Taskcast moves it to the PHP worker's queue.
    const body = { type: "resize", payload: { width: 5, height: 5, steps: 2, stepMs: 50, transientFailures: 1 }, id };
    ch.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(JSON.stringify(body)), { persistent: true, messageId: id, contentType: "application/json", replyTo: replyQueue, correlationId });
    await ch.waitForConfirms();
    const reply = await eventually(async () => replies.find((m) => m.properties.correlationId === correlationId), "the reply");
    const record = JSON.parse(reply.content.toString()) as TaskRecord;
    assert.equal(record.id, id);
    assert.equal(record.status, "succeeded");
    assert.equal(record.attempts, 2);
    assert.equal((await taskOf(stack, id))?.reply?.state, "sent");
    // A second reply would follow within milliseconds (the same report or a duplicate): give it a moment to show.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(replies.filter((m) => m.properties.correlationId === correlationId).length, 1);
    await ch.close();
  });
});

describe("the Python example worker", () => {
  let stack: Stack;
  let model: ChannelModel;
  let worker: ExampleWorker | undefined;
  let queue: string;

  before(async () => {
    stack = await startStack({ webNodes: 1, workers: 0 });
    model = await connect(stack.config.rabbitmqUrls[0]);
    queue = `${stack.config.TASK_QUEUE}-images`;
  });
  after(async () => {
    if (worker) await stopExampleWorker(worker);
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    await ch.deleteQueue(queue).catch(() => undefined);
    await model.close();
    await stack.close();
  });

  test("runs a submitted task: progress, then succeeded with the result, under its worker id", async () => {
    const w = (worker = await spawnExampleWorker(stack, "python", queue));
    const id = await submit(stack, { type: "resize", payload: { width: 8, height: 4, steps: 3, stepMs: 300 } });
    const running = await eventually(async () => {
      const t = await taskOf(stack, id);
      return t?.status === "running" && (t.progress ?? 0) > 0 && (t.progress ?? 0) < 1 ? t : undefined;
    }, "progress", 15_000, 20);
    assert.equal(running.worker, w.id);
    const done = await waitForStatus(stack, id, ["succeeded", "failed", "dead"]);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.deepEqual(done.result, { width: 8, height: 4, bytes: 96 });
    assert.deepEqual(done.attemptLog.map((a) => [a.worker, a.outcome]), [[w.id, "succeeded"]]);
    const { body } = await api(stack.nodes[0], "/api/workers");
    assert.equal((body as { workers: Array<{ id: string; language?: string }> }).workers.find((x) => x.id === w.id)?.language, "python");
  });
});
