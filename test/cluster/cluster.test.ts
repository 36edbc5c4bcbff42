// Taskcast on a real 3-node RabbitMQ cluster (scripts/rabbitmq-cluster.sh) with quorum queues: 2,000 tasks run
// while one broker node is killed and later restarted. Every accepted task finishes exactly once, none goes
// dead, and the dashboard answers throughout.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { pino } from "pino";
import type { TaskRecord } from "../../lib/contract";
import { connect } from "amqplib";
import { ConfirmPublisher } from "../../server/queue/publisher";
import { connectAmqp } from "../../server/queue/amqp";
import { topologyFor } from "../../server/queue/topology";
import { api, eventually, startStack, type Stack } from "../helpers/stack";

const run = promisify(execFile);
const TASKS = 2000;
const cluster = (...args: string[]) => run("bash", ["scripts/rabbitmq-cluster.sh", ...args], { timeout: 180_000 });

describe("on a 3-node RabbitMQ cluster, with quorum queues", () => {
  let stack: Stack;
  /** The nodes' AMQP URLs, node 1 first. */
  let urls: string[];
  /** Handler runs per task id, from each worker's "task succeeded" log line (one per handler run that returned). */
  const runs = new Map<string, number>();
  /** Warnings and errors of the processes, shown when the test fails. */
  const warnings: string[] = [];

  before(async () => {
    // A fresh cluster: one whose node was just killed and restarted (by an earlier run) nacked publishes to new
    // quorum queues for over 30 s after the next kill, in about a third of the runs here (an open question).
    await cluster("stop");
    const { stdout } = await cluster("start");
    urls = stdout.trim().split("\n").at(-1)!.split(",");
    // debug: a short task's "task succeeded" line is logged at debug.
    const log = pino({ level: "debug" }, {
      write(line: string) {
        if (/"level":(40|50|60)/.test(line) || line.includes("RabbitMQ") || line.includes("consuming")) warnings.push(line.slice(0, 400));
        if (!line.includes('"task succeeded"')) return;
        const id = /"taskId":"([^"]+)"/.exec(line)?.[1];
        if (id) runs.set(id, (runs.get(id) ?? 0) + 1);
      },
    });
    stack = await startStack({ workers: 2, log, env: { RABBITMQ_URL: urls.join(","), TASK_QUEUE_TYPE: "quorum", API_RATE: "0", WORKER_CONCURRENCY: "16" } });
  });
  after(async () => {
    await stack?.close();
    await cluster("stop"); // frees the nodes' memory for the suites after this one
  });

  test("2,000 tasks through a broker node's crash and restart: each runs once, none dead, the dashboard answers", async (t) => {
    // The dashboard is asked for the queue every 200 ms throughout; every request must be answered.
    const done = new AbortController();
    const answers: number[] = [];
    const poller = (async () => {
      // Bounded: at most 3,000 requests (10 minutes at 5 a second).
      for (let i = 0; i < 3000 && !done.signal.aborted; i++) {
        // No answer within 5 s counts as 0.
        const status = await fetch(`${stack.nodes[0].url}/api/queue`, { signal: AbortSignal.timeout(5000) }).then(
          async (res) => (await res.arrayBuffer(), res.status),
          () => 0,
        );
        answers.push(status);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();

    // A client that retries a refused submission with its Idempotency-Key, as a service should (for 30 s at most).
    const accepted: string[] = [];
    let refusals = 0;
    let lastRefusal = "";
    const submitSome = async (from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        const key = `cluster-${stack.config.TASK_QUEUE}-${i}`;
        const id = await eventually(
          async () => {
            const res = await api(stack.nodes[0], "/api/tasks", { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": key }, body: JSON.stringify({ type: "sleep", payload: { ms: 20 } }) });
            if (res.status === 200 || res.status === 202) return res.body.id as string;
            refusals++;
            lastRefusal = `${res.status} ${JSON.stringify(res.body)}`;
            return undefined;
          },
          `task ${i} to be accepted`,
          30_000,
          200,
        );
        accepted.push(id);
      }
    };
    let records: TaskRecord[];
    try {
      await submitSome(0, TASKS / 2);
      // Node 1 is the one every process connected to first: its connections drop and they fail over.
      await cluster("kill", "1");
      await submitSome(TASKS / 2, TASKS / 2);
      await cluster("restart", "1");
      records = await eventually(
        async () => {
          const all = await Promise.all(accepted.map(async (id) => (await api(stack.nodes[0], `/api/tasks/${id}`)).body as TaskRecord));
          return all.every((r) => r.status === "succeeded" || r.status === "dead" || r.status === "failed") ? all : undefined;
        },
        "every accepted task to finish",
        120_000,
        1000,
      );
    } catch (err) {
      t.diagnostic(`last refusal: ${lastRefusal}`);
      for (const line of warnings.slice(-40)) t.diagnostic(line.trim());
      throw err;
    } finally {
      done.abort();
      await poller;
    }

    t.diagnostic(`${accepted.length} accepted of ${TASKS} (${refusals} refusals retried); ${answers.length} dashboard answers, ${answers.filter((s) => s !== 200).length} not 200`);
    assert.equal(new Set(accepted).size, TASKS, "every submission accepted once, under its own id");
    assert.deepEqual(records.filter((r) => r.status !== "succeeded").map((r) => `${r.id}: ${r.status} ${r.error ?? ""}`), [], "none dead or failed");
    const twice = accepted.filter((id) => (runs.get(id) ?? 0) !== 1).map((id) => `${id}: ${runs.get(id) ?? 0} runs`);
    assert.deepEqual(twice, [], "every task's handler ran exactly once");
    assert.deepEqual(answers.filter((status) => status === 0), [], "every dashboard request got an answer within 5 s");
  });

  test("a publisher refused while a queue had no leader (its node just died) publishes again once a new one is elected", async (t) => {
    // A quorum queue declared through node 1 has its leader there.
    const queue = `${stack.config.TASK_QUEUE}-leaderless`;
    const declarer = await connect(urls[0]);
    await (await declarer.createChannel()).assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
    await declarer.close();
    const log = pino({ level: "silent" });
    const topology = topologyFor({ TASK_QUEUE: queue, TASK_QUEUE_TYPE: "quorum", TASK_DELIVERY_LIMIT: 10 });
    const publisher = new ConfirmPublisher(() => amqp, topology, log);
    // Connected to node 2, which outlives node 1.
    const amqp = await connectAmqp({ url: urls[1], name: "leaderless-test", log, setup: (model) => publisher.setup(model) });
    try {
      await cluster("kill", "1");
      // Published at once, some of these reach the queue before a new leader is elected, and are refused.
      const outcomes: string[] = [];
      const started = Date.now();
      for (let i = 0; i < 120 && outcomes.slice(-3).join() !== "ok,ok,ok"; i++) {
        outcomes.push(await publisher.publishTask({ id: `leaderless-${i}`, type: "echo", payload: {} }, 0).then(() => "ok", () => "refused"));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      t.diagnostic(`after the kill: ${outcomes.join(" ")} (${Date.now() - started} ms)`);
      assert.equal(outcomes.slice(-3).join(), "ok,ok,ok", "publishes are confirmed again within 30 s of the leader's node dying");
    } finally {
      await amqp.close();
      await cluster("restart", "1");
    }
  });
});
