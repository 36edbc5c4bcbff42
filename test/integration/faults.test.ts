// Fault injection against the real brokers: killed and stopped workers, and RabbitMQ and Redis restarts
// while tasks are submitted and run. Every task is accounted for.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { TaskRecord, TaskStatus } from "../../lib/contract";
import { freePort, PrivateRedis, spawnWorker } from "../helpers/processes";
import { api, eventually, nextEvent, postJson, startStack, type Stack } from "../helpers/stack";
import { submit, taskOf, waitForStatus as waitFor } from "../helpers/tasks";

const run = promisify(execFile);

const waitForStatus = (stack: Stack, id: string, statuses: TaskStatus[], timeoutMs = 20_000) => waitFor(stack, id, statuses, timeoutMs);

describe("worker processes that die or stop", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 0, env: { WORKER_CONCURRENCY: "2" } });
  });
  after(() => stack.close());

  test("a task whose worker is killed with SIGKILL shows as stalled, runs again on another worker and succeeds", async () => {
    const first = await spawnWorker(stack);
    const ids = [await submit(stack, { type: "sleep", payload: { ms: 2500 } }), await submit(stack, { type: "sleep", payload: { ms: 2500 } })];
    for (const id of ids) await eventually(async () => ((await taskOf(stack, id))?.progress ?? 0) > 0 || undefined, `task ${id} to make progress`);
    first.process.kill("SIGKILL");
    assert.equal(await first.exited, null);
    // No task stays running forever: once the dead worker's heartbeat is stale, the tasks show as stalled.
    for (const id of ids) await waitForStatus(stack, id, ["stalled"], 15_000);
    const second = await spawnWorker(stack);
    for (const id of ids) {
      const done = await waitForStatus(stack, id, ["succeeded"]);
      assert.equal(done.attempts, 2);
      assert.deepEqual(done.attemptLog.map((a) => a.outcome), ["interrupted", "succeeded"]);
    }
    second.process.kill("SIGTERM");
    assert.equal(await second.exited, 0);
  });

  test("SIGTERM lets a running task finish within the grace period and exits 0", async () => {
    const worker = await spawnWorker(stack, { SHUTDOWN_GRACE_MS: "10000" });
    const id = await submit(stack, { type: "sleep", payload: { ms: 1500 } });
    await waitForStatus(stack, id, ["running"]);
    worker.process.kill("SIGTERM");
    assert.equal(await worker.exited, 0, worker.output());
    const record = await taskOf(stack, id);
    assert.equal(record?.status, "succeeded", "finished before the worker exited");
    assert.equal(record?.attempts, 1);
    assert.match(worker.output(), /worker stopped/);
  });

  test("SIGTERM past the grace period hands the task back to the queue, uncounted, and exits 0", async () => {
    const worker = await spawnWorker(stack, { SHUTDOWN_GRACE_MS: "300" });
    const id = await submit(stack, { type: "sleep", payload: { ms: 3000 } });
    await waitForStatus(stack, id, ["running"]);
    worker.process.kill("SIGTERM");
    assert.equal(await worker.exited, 0, worker.output());
    const back = await taskOf(stack, id);
    assert.equal(back?.status, "queued");
    assert.equal(back?.attempts, 0);
    assert.equal(back?.attemptLog.at(-1)?.outcome, "requeued");
    assert.equal((await api(stack.nodes[0], "/api/queue")).body.ready, 1, "the message is back on the queue");
    const next = await spawnWorker(stack);
    assert.equal((await waitForStatus(stack, id, ["succeeded"])).attempts, 1);
    next.process.kill("SIGTERM");
    assert.equal(await next.exited, 0);
  });
});

describe("accounting", () => {
  test("a mixed workload through a SIGKILLed worker ends with submitted = succeeded + failed + dead + cancelled", async (t) => {
    const stack = await startStack({ workers: 0, env: { WORKER_CONCURRENCY: "8" } });
    try {
      const first = await spawnWorker(stack);
      const expected = new Map<string, TaskStatus>();
      const plan: Array<[object, TaskStatus]> = [
        [{ type: "echo", payload: { n: 1 } }, "succeeded"],
        [{ type: "flaky", payload: { failures: 1 } }, "succeeded"],
        [{ type: "sleep", payload: { ms: 800 } }, "succeeded"],
        [{ type: "fail", payload: { message: "expected" } }, "failed"],
        [{ type: "flaky", payload: { failures: 10 } }, "dead"],
        [{ type: "sleep", payload: { ms: 60_000 } }, "cancelled"],
      ];
      for (let round = 0; round < 5; round++) {
        for (const [body, status] of plan) expected.set(await submit(stack, body), status);
      }
      // Kill the worker while tasks of every kind are in flight, then let a fresh one finish the work.
      await eventually(async () => ((await api(stack.nodes[0], "/api/tasks?status=running&limit=100")).body.tasks.length >= 5 ? true : undefined), "tasks running");
      first.process.kill("SIGKILL");
      await first.exited;
      const second = await spawnWorker(stack);
      for (const [id, status] of expected) {
        if (status !== "cancelled") continue;
        await waitForStatus(stack, id, ["running", "queued", "stalled"], 30_000);
        assert.equal((await postJson(stack.nodes[0], `/api/tasks/${id}/cancel`, {})).status, 202);
      }
      for (const [id, status] of expected) assert.equal((await waitForStatus(stack, id, [status], 30_000)).status, status);
      const { body } = await api(stack.nodes[0], "/api/tasks?limit=500");
      const byStatus: Record<string, number> = {};
      for (const task of body.tasks as TaskRecord[]) byStatus[task.status] = (byStatus[task.status] ?? 0) + 1;
      assert.deepEqual(byStatus, { succeeded: 15, failed: 5, dead: 5, cancelled: 5 });
      assert.equal((body.tasks as TaskRecord[]).length, expected.size, "no task missing, none extra");
      const queue = (await api(stack.nodes[0], "/api/queue")).body;
      assert.equal(queue.ready, 0);
      assert.equal(queue.dead, 5);
      t.diagnostic(`submitted ${expected.size} = ${JSON.stringify(byStatus)}`);
      second.process.kill("SIGTERM");
      assert.equal(await second.exited, 0);
    } finally {
      await stack.close();
    }
  });
});

interface Submission {
  i: number;
  status: number;
  ms: number;
  id?: string;
  error?: string;
}

/** Submits echo tasks one after another until stopped, recording every answer and how long it took. */
function submitContinuously(stack: Stack) {
  const results: Submission[] = [];
  const state = { stopped: false };
  const loop = (async () => {
    for (let i = 0; !state.stopped; i++) {
      const started = Date.now();
      try {
        const res = await postJson(stack.nodes[0], "/api/tasks", { type: "echo", payload: { i } });
        results.push({ i, status: res.status, ms: Date.now() - started, id: res.body.id, error: res.body.error });
      } catch (err) {
        results.push({ i, status: 0, ms: Date.now() - started, error: String(err) });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    results,
    async stop() {
      state.stopped = true;
      await loop;
    },
  };
}

/** Checks every submission: 202s all succeeded, refusals were quick and clear, and no other task exists. */
async function accountFor(stack: Stack, results: Submission[]): Promise<{ accepted: number; refused: number }> {
  const accepted = results.filter((r) => r.status === 202);
  const refused = results.filter((r) => r.status !== 202);
  for (const r of refused) {
    assert.equal(r.status, 503, `request ${r.i}: ${r.status} ${r.error}`);
    assert.match(r.error!, /RabbitMQ|Redis/);
    assert.ok(r.ms < 6000, `request ${r.i} took ${r.ms} ms to be refused`);
  }
  for (const r of accepted) await waitForStatus(stack, r.id!, ["succeeded"], 60_000);
  const acceptedIds = new Set(accepted.map((r) => r.id));
  // A refusal after the broker lost the confirm may still have queued the message (at-least-once);
  // then it shows as a task of its own. Any other record would be a task nobody submitted.
  const ambiguous = new Set(refused.filter((r) => /confirm|channel/i.test(r.error ?? "")).map((r) => r.i));
  const unexpected = (records: TaskRecord[]) => records.filter((record) => !acceptedIds.has(record.id) && !ambiguous.has((record.payload as { i: number }).i));
  // A create that Redis ran just before it stopped lost its reply: the web node answered 503 and removes the
  // record once Redis answers again (it retries every second), so a refused task's record may show for a moment.
  let records: TaskRecord[] = [];
  await eventually(async () => {
    records = (await api(stack.nodes[0], "/api/tasks?limit=500")).body.tasks as TaskRecord[];
    return unexpected(records).length === 0 ? true : undefined;
  }, "refused tasks' records to be removed", 5_000).catch(() => assert.fail(`unexpected tasks ${JSON.stringify(unexpected(records))}`));
  assert.equal(records.filter((r) => acceptedIds.has(r.id) && r.status === "succeeded").length, accepted.length, "every accepted task succeeded");
  return { accepted: accepted.length, refused: refused.length };
}

const health = async (stack: Stack) => (await api(stack.nodes[0], "/healthz")).body as { rabbitmq: string; redis: string };

const rabbitmqIsLocal = async (): Promise<string | undefined> => {
  const url = new URL(process.env.RABBITMQ_URL ?? "amqp://127.0.0.1:5672");
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) return "RABBITMQ_URL points at another machine; this test restarts the broker";
  try {
    await run("rabbitmqctl", ["-q", "status"], { timeout: 30_000 });
    return undefined;
  } catch (err) {
    return `rabbitmqctl cannot control the local broker (${String(err).slice(0, 200)})`;
  }
};

describe("broker outages", () => {
  test("while RabbitMQ restarts, submissions get a quick 503, health says down, and every accepted task finishes", async (t) => {
    const notLocal = await rabbitmqIsLocal();
    if (notLocal) return t.skip(notLocal);
    const stack = await startStack({ workers: 1 });
    try {
      // An open tab is told when its web node loses and regains RabbitMQ.
      const socket = await stack.connectSocket();
      const told: string[] = [];
      socket.on("health", (h) => told.push(h.rabbitmq));
      const load = submitContinuously(stack);
      await eventually(async () => (load.results.filter((r) => r.status === 202).length >= 10 ? true : undefined), "some tasks accepted");
      await run("rabbitmqctl", ["-q", "stop_app"], { timeout: 60_000 });
      try {
        await eventually(async () => ((await health(stack)).rabbitmq === "down" ? true : undefined), "health to report RabbitMQ down");
        assert.equal((await api(stack.nodes[0], "/healthz")).status, 503);
        const during = await postJson(stack.nodes[0], "/api/tasks", { type: "echo", payload: { i: -1 } });
        assert.equal(during.status, 503);
        assert.match(during.body.error, /RabbitMQ is not reachable/);
        await eventually(async () => (load.results.some((r) => r.status === 503) ? true : undefined), "the load to see refusals");
      } finally {
        await run("rabbitmqctl", ["-q", "start_app"], { timeout: 60_000 });
      }
      await eventually(async () => ((await health(stack)).rabbitmq === "up" ? true : undefined), "RabbitMQ to be back", 60_000);
      await eventually(async () => (told.at(-1) === "up" && told.includes("down") ? true : undefined), "the tab to be told RabbitMQ went down and came back");
      const acceptedBefore = load.results.filter((r) => r.status === 202).length;
      await eventually(async () => (load.results.filter((r) => r.status === 202).length >= acceptedBefore + 10 ? true : undefined), "tasks accepted again");
      await load.stop();
      const { accepted, refused } = await accountFor(stack, load.results);
      assert.ok(accepted > 20 && refused > 0, `accepted ${accepted}, refused ${refused}`);
      t.diagnostic(`RabbitMQ restart: ${accepted} accepted and all succeeded, ${refused} refused with 503`);
    } finally {
      await stack.close();
    }
  });

  test("while Redis restarts, submissions get a quick 503, health says down, and every accepted task finishes", async (t) => {
    const redis = await PrivateRedis.start();
    const stack = await startStack({ workers: 1, env: { REDIS_URL: redis.url, PORT: String(await freePort()) } });
    try {
      const socket = await stack.connectSocket();
      const load = submitContinuously(stack);
      await eventually(async () => (load.results.filter((r) => r.status === 202).length >= 10 ? true : undefined), "some tasks accepted");
      await redis.down();
      try {
        await eventually(async () => ((await health(stack)).redis === "down" ? true : undefined), "health to report Redis down");
        await eventually(async () => (load.results.filter((r) => r.status === 503).length >= 3 ? true : undefined), "the load to see refusals");
      } finally {
        await redis.up();
      }
      await eventually(async () => ((await health(stack)).redis === "up" ? true : undefined), "Redis to be back", 30_000);
      // The web node subscribed again: a broadcast and live task updates reach the tab that stayed open.
      const heard = nextEvent(socket, "broadcast", (b) => b.message === "after the Redis restart");
      await eventually(async () => ((await postJson(stack.nodes[0], "/api/broadcasts", { message: "after the Redis restart" })).status === 202 ? true : undefined), "a broadcast to be accepted");
      await heard;
      const acceptedBefore = load.results.filter((r) => r.status === 202).length;
      await eventually(async () => (load.results.filter((r) => r.status === 202).length >= acceptedBefore + 10 ? true : undefined), "tasks accepted again");
      await load.stop();
      const { accepted, refused } = await accountFor(stack, load.results);
      const marker = { after: "the Redis restart" };
      const updated = nextEvent(socket, "task:update", (r) => r.status === "succeeded" && JSON.stringify(r.payload) === JSON.stringify(marker));
      await submit(stack, { type: "echo", payload: marker });
      await updated;
      assert.ok(accepted > 20 && refused > 0, `accepted ${accepted}, refused ${refused}`);
      t.diagnostic(`Redis restart: ${accepted} accepted and all succeeded, ${refused} refused with 503`);
    } finally {
      await stack.close();
      await redis.remove();
    }
  });
});
