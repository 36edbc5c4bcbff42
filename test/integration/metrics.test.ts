// GET /metrics on web nodes and workers: Prometheus text with Taskcast's own series and the process's.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { hashSync } from "bcryptjs";
import { api, eventually, postJson, startStack, type Stack } from "../helpers/stack";
import { sample } from "../helpers/metrics-text";
import { submit, waitForStatus } from "../helpers/tasks";


async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(`${url}/metrics`, { headers });
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
}

describe("metrics without users", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ webNodes: 1, workers: 1 });
  });
  after(() => stack.close());

  test("a web node and a worker count tasks, attempts, durations, broadcasts, queue depth and sockets", async () => {
    const ids = [await submit(stack, { type: "echo", payload: { n: 1 } }), await submit(stack, { type: "echo", payload: { n: 2 } }), await submit(stack, { type: "fail", payload: { message: "expected" } })];
    await Promise.all(ids.map((id) => waitForStatus(stack, id, ["succeeded", "failed"])));
    assert.equal((await postJson(stack.nodes[0], "/api/broadcasts", { message: "counted" })).status, 202);
    const socket = await stack.connectSocket();

    const web = await eventually(async () => {
      const scraped = await scrape(stack.nodes[0].url);
      // The queue gauge appears once the stats ticker has taken a sample.
      return sample(scraped.text, "taskcast_queue_consumers") === 1 ? scraped : undefined;
    }, "the queue sample in the web node's metrics");
    assert.equal(web.status, 200);
    assert.match(web.type ?? "", /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(web.text, "taskcast_tasks_submitted_total", { type: "echo", part: "web" }), 2);
    assert.equal(sample(web.text, "taskcast_tasks_submitted_total", { type: "fail" }), 1);
    assert.equal(sample(web.text, "taskcast_broadcasts_total", { source: "api" }), 1);
    assert.equal(sample(web.text, "taskcast_tasks", { status: "succeeded" }), 2);
    assert.equal(sample(web.text, "taskcast_tasks", { status: "failed" }), 1);
    assert.equal(sample(web.text, "taskcast_queue_messages", { queue: stack.config.TASK_QUEUE, state: "ready" }), 0);
    assert.equal(sample(web.text, "taskcast_socket_connections"), 1);
    assert.ok((sample(web.text, "nodejs_eventloop_lag_seconds") ?? -1) >= 0, "event-loop lag");
    assert.ok((sample(web.text, "process_resident_memory_bytes") ?? 0) > 0, "process memory");

    const worker = await scrape(stack.workers[0].metricsUrl);
    assert.equal(worker.status, 200);
    assert.equal(sample(worker.text, "taskcast_tasks_finished_total", { type: "echo", status: "succeeded", part: "worker" }), 2);
    assert.equal(sample(worker.text, "taskcast_tasks_finished_total", { type: "fail", status: "failed" }), 1);
    assert.equal(sample(worker.text, "taskcast_task_duration_seconds_count", { type: "echo", outcome: "succeeded" }), 2);
    assert.equal(sample(worker.text, "taskcast_task_attempts_total", { type: "fail", outcome: "failed" }), 1);
    assert.equal(sample(worker.text, "taskcast_worker_concurrency"), stack.config.WORKER_CONCURRENCY);
    assert.ok((sample(worker.text, "process_resident_memory_bytes") ?? 0) > 0);
    assert.equal((await fetch(`${stack.workers[0].metricsUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${stack.workers[0].metricsUrl}/other`)).status, 404);
    socket.disconnect();
  });

  test("retries and dead letters are counted by type", async () => {
    // `flaky` failing more times than its 4 attempts is retried by RabbitMQ three times, then ends dead.
    const id = await submit(stack, { type: "flaky", payload: { failures: 10 } });
    await waitForStatus(stack, id, ["dead"], 30_000);
    const worker = await scrape(stack.workers[0].metricsUrl);
    assert.equal(sample(worker.text, "taskcast_task_retries_total", { type: "flaky" }), 3);
    assert.equal(sample(worker.text, "taskcast_dead_letters_total", { type: "flaky" }), 1);
    assert.equal(sample(worker.text, "taskcast_tasks_finished_total", { type: "flaky", status: "dead" }), 1);
  });
});

describe("metrics with users configured", () => {
  const token = "metrics-scraper-token-0123456789abcdef";
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      webNodes: 1,
      workers: 1,
      env: { TASKCAST_USERS: `alice:operator:${hashSync("correct horse", 10)}`, TASKCAST_TOKENS: `prometheus:viewer:${token}` },
    });
  });
  after(() => stack.close());

  test("need a token (any role) on the web node and the worker", async () => {
    assert.equal((await scrape(stack.nodes[0].url)).status, 401);
    assert.equal((await scrape(stack.workers[0].metricsUrl)).status, 401);
    assert.equal((await scrape(stack.workers[0].metricsUrl, { Authorization: "Bearer wrong-token-wrong-token-wrong-token" })).status, 401);
    const web = await scrape(stack.nodes[0].url, { Authorization: `Bearer ${token}` });
    assert.equal(web.status, 200);
    assert.ok(sample(web.text, "process_resident_memory_bytes"));
    const worker = await scrape(stack.workers[0].metricsUrl, { Authorization: `Bearer ${token}` });
    assert.equal(worker.status, 200);
    assert.ok(sample(worker.text, "taskcast_worker_concurrency"));
    const { status } = await api(stack.nodes[0], "/healthz");
    assert.equal(status, 200);
  });
});
