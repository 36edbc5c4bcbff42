// A worker's prefetch sized to its tasks when WORKER_PREFETCH is unset (server/queue/prefetch-tuner.ts): against
// real RabbitMQ and Redis. Short tasks raise it (a new consumer each time), long ones bring it back down, and no
// delivery is lost or run twice on the way.
import assert from "node:assert/strict";
import { connect, type ChannelModel } from "amqplib";
import { after, before, describe, test } from "node:test";
import { redisKeys } from "../../server/redis/keys";
import { sample } from "../helpers/metrics-text";
import { eventually, postJson, startStack, type Stack } from "../helpers/stack";

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

  test("short tasks raise it up to eight times the concurrency, long ones bring it back; every task runs once", async () => {
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
    assert.ok(highest > 4 && highest <= 16, `the prefetch went up to ${highest} (between 4 and 16 expected)`);
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
