// A worker's prefetch sized to its tasks when WORKER_PREFETCH is unset (server/queue/prefetch-tuner.ts): against
// real RabbitMQ and Redis. Short tasks raise it (a new consumer each time), long ones bring it back down, and no
// delivery is lost or run twice on the way.
import assert from "node:assert/strict";
import { connect, type ChannelModel } from "amqplib";
import { after, before, describe, test } from "node:test";
import { redisKeys } from "../../server/redis/keys";
import { sample } from "../helpers/metrics-text";
import { eventually, postJson, startStack, type Stack } from "../helpers/stack";
import { taskOf, waitForStatus } from "../helpers/tasks";

describe("a worker's prefetch sized to its tasks", () => {
  let stack: Stack;
  let model: ChannelModel;

  before(async () => {
    stack = await startStack({ workers: 1, env: { WORKER_CONCURRENCY: "2" } });
    model = await connect(stack.config.rabbitmqUrls[0]);
  });
  after(async () => {
    await model.close();
    await stack.close();
  });

  const metrics = async () => (await fetch(`${stack.workers[0].metricsUrl}/metrics`)).text();
  const prefetch = async () => sample(await metrics(), "taskcast_worker_prefetch");
  const succeeded = (type: string) => stack.redis.zcard(redisKeys(stack.config.KEY_PREFIX).tasksByStatus("succeeded")).then(async (n) => ({ n, attempts: sample(await metrics(), "taskcast_task_attempts_total", { type, outcome: "succeeded" }) ?? 0 }));

  test("short tasks raise it up to its top (64 at this concurrency), long ones bring it back; every task runs once", async () => {
    assert.equal(await prefetch(), 4, "twice the concurrency at rest");

    // 3,000 echo tasks of well under a millisecond each.
    for (let batch = 0; batch < 3; batch++) {
      const res = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: Array.from({ length: 1000 }, (_, i) => ({ type: "echo", payload: { batch, i } })) });
      assert.equal(res.status, 202, JSON.stringify(res.body));
    }
    let highest = 4;
    await eventually(
      async () => {
        highest = Math.max(highest, (await prefetch()) ?? 0);
        return (await succeeded("echo")).n === 3000 ? true : undefined;
      },
      "3,000 echo tasks to succeed",
      60_000,
    );
    assert.ok(highest > 4 && highest <= 64, `the prefetch went up to ${highest} (between 4 and 64 expected)`);
    const { attempts } = await succeeded("echo");
    assert.equal(attempts, 3000, "each echo task ran once");
    const queue = await model.createChannel();
    try {
      assert.equal((await queue.checkQueue(stack.config.TASK_QUEUE)).consumerCount, 1, "one consumer: each new one replaced the last");
    } finally {
      await queue.close();
    }

    // Tasks of 1.5 s: twice the concurrency again within a window or two, long before an idle worker would go back.
    const res = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: Array.from({ length: 6 }, () => ({ type: "sleep", payload: { ms: 1500 } })) });
    assert.equal(res.status, 202);
    const started = Date.now();
    await eventually(async () => ((await prefetch()) === 4 ? true : undefined), "the prefetch back at 4 with long tasks", 10_000);
    assert.ok(Date.now() - started < 4000, `back at 4 after ${Date.now() - started} ms`);
    await eventually(async () => ((await succeeded("sleep")).n === 3006 ? true : undefined), "the sleep tasks to succeed", 30_000);
    assert.equal((await succeeded("sleep")).attempts, 6, "each sleep task ran once");
  });
});

describe("a worker of concurrency 1 after a burst of short tasks", () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ workers: 1, env: { WORKER_CONCURRENCY: "1" } });
  });
  after(() => stack.close());

  const prefetch = async () => sample(await (await fetch(`${stack.workers[0].metricsUrl}/metrics`)).text(), "taskcast_worker_prefetch");

  /** Runs 1,000 echo tasks on the first worker; answers the highest prefetch seen meanwhile. */
  async function burstOfShortTasks(): Promise<number> {
    const flood = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: Array.from({ length: 1000 }, () => ({ type: "echo" })) });
    assert.equal(flood.status, 202);
    let raised = 0;
    await eventually(async () => {
      raised = Math.max(raised, (await prefetch()) ?? 0);
      return (await taskOf(stack, flood.body.tasks[999].id))?.status === "succeeded" ? true : undefined;
    }, "the short tasks to run", 60_000);
    return raised;
  }

  test("a cancel of a task claimed and waiting for the slot ends it at once, and its handler never runs", async () => {
    // Short tasks raise the prefetch above 2: from then on the worker claims each delivery as it arrives.
    const raised = await burstOfShortTasks();
    assert.ok(raised > 2, `the prefetch rose to ${raised}`);

    // A long task takes the one slot; five short ones behind it are delivered, claimed, and wait for the slot.
    const res = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: [{ type: "sleep", payload: { ms: 4000 } }, ...Array.from({ length: 5 }, (_, i) => ({ type: "echo", payload: { waiting: i } }))] });
    assert.equal(res.status, 202);
    const [sleeper, ...waiting] = (res.body.tasks as Array<{ id: string }>).map((t) => t.id);
    await waitForStatus(stack, sleeper, ["running"]);
    await new Promise((r) => setTimeout(r, 300));
    const cancelledAt = Date.now();
    const answers = await Promise.all(waiting.map((id) => postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {})));
    for (const answer of answers) assert.equal(answer.status, 202, JSON.stringify(answer.body));
    // Claimed by the worker, so cancelled as a running attempt; ended without waiting for the long task's slot.
    assert.ok(answers.some((a) => a.body.status === "running"), `some were claimed: ${answers.map((a) => a.body.status).join(", ")}`);
    for (const id of waiting) {
      const task = await waitForStatus(stack, id, ["cancelled"], 3000);
      assert.equal(task.result, undefined, "its handler never ran");
    }
    assert.ok(Date.now() - cancelledAt < 3000, "ended while the long task still held the slot");
    assert.equal((await taskOf(stack, sleeper))?.status, "running", "the long task is still running");
    assert.equal((await waitForStatus(stack, sleeper, ["succeeded"], 10_000)).status, "succeeded");
  });

  // Runs last: it adds a second worker to the stack.
  test("long tasks that follow short ones go back to the queue, not held by the worker that ran the short ones", async () => {
    // Short tasks raise the first worker's prefetch well above the handful of long tasks that follow.
    const raised = await burstOfShortTasks();
    assert.ok(raised >= 8, `the prefetch rose to ${raised}`);

    // Six tasks of 1.5 s, all delivered to the first worker (the only consumer, with credit to spare).
    const res = await postJson(stack.nodes[0], "/api/tasks/batch", { tasks: Array.from({ length: 6 }, () => ({ type: "sleep", payload: { ms: 1500 } })) });
    assert.equal(res.status, 202);
    const ids = (res.body.tasks as Array<{ id: string }>).map((t) => t.id);
    await waitForStatus(stack, ids[0], ["running"]);
    const second = await stack.addWorker({ WORKER_CONCURRENCY: "1" });

    // The first worker's prefetch falls back to 2 within a window or two, and the long tasks waiting in it go back
    // to the queue: the second worker runs some of them. Held, they would all run one after another on the first.
    const done = await Promise.all(ids.map((id) => waitForStatus(stack, id, ["succeeded"], 20_000)));
    const bySecond = done.filter((t) => t.worker === second.id);
    assert.ok(bySecond.length > 0, `the second worker ran none of them: ${done.map((t) => t.worker).join(", ")}`);
    for (const task of done) assert.equal(task.attempts, 1, `${task.id} ran once`);
  });
});
