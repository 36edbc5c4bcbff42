// Redis blackholed (packets dropped, nothing refused) under a running web node and worker: every HTTP request
// still answers quickly, and once Redis is back nothing accepted is lost.
import assert from "node:assert/strict";
import { connect, type ChannelModel } from "amqplib";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { TaskRecord } from "../../lib/contract";
import { FaultProxy } from "../helpers/fault-proxy";
import { api, eventually, startStack, type Stack } from "../helpers/stack";

/** The longest an answer may take while Redis does not answer. */
const ANSWER_WITHIN_MS = 2000;
const OUTAGE_MS = 10_000;

describe("with Redis blackholed for 10 s", () => {
  let stack: Stack;
  let proxy: FaultProxy;

  before(async () => {
    proxy = await FaultProxy.start(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
    stack = await startStack({ workers: 1, env: { REDIS_URL: proxy.via(process.env.REDIS_URL ?? "redis://127.0.0.1:6379"), API_RATE: "0" } });
  });
  after(async () => {
    proxy.restore();
    await stack.close();
    await proxy.close();
  });

  /** A request that must answer within ANSWER_WITHIN_MS, whatever the answer. */
  async function answered(path: string, init?: RequestInit): Promise<number> {
    const res = await fetch(stack.nodes[0].url + path, { ...init, signal: AbortSignal.timeout(ANSWER_WITHIN_MS) }).catch((err: Error) => {
      throw new Error(`${init?.method ?? "GET"} ${path} did not answer within ${ANSWER_WITHIN_MS} ms (${err.message})`);
    });
    await res.arrayBuffer();
    return res.status;
  }
  const post = (body: unknown) => answered("/api/tasks", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

  test("every request answers 503 within 2 s, and every task accepted before, during or after runs once Redis is back", async () => {
    const accepted: string[] = [];
    const submit = async (payload: object) => {
      const res = await api(stack.nodes[0], "/api/tasks", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ type: "sleep", payload }) });
      if (res.status === 202) accepted.push(res.body.id);
      return res.status;
    };
    for (let i = 0; i < 10; i++) assert.equal(await submit({ ms: 300 }), 202);

    proxy.blackhole();
    const outageEnds = Date.now() + OUTAGE_MS;
    const answers: Record<string, number[]> = {};
    let rounds = 0;
    while (Date.now() < outageEnds && rounds++ < 50) {
      for (const [name, request] of [
        ["GET /api/tasks", () => answered("/api/tasks")],
        ["GET /api/tasks/:id", () => answered(`/api/tasks/${accepted[0]}`)],
        ["POST /api/tasks", () => post({ type: "echo" })],
        ["GET /healthz", () => answered("/healthz")],
      ] as const) {
        const status = await request();
        (answers[name] ??= []).push(status);
      }
    }
    for (const [name, statuses] of Object.entries(answers)) {
      assert.ok(statuses.every((s) => s === 503), `${name} answered ${[...new Set(statuses)].join(", ")} while Redis was unreachable`);
    }
    proxy.restore();

    // Back: new tasks are accepted again, and every task accepted at any point succeeds, exactly once.
    await eventually(async () => ((await submit({ ms: 10 })) === 202 ? true : undefined), "a submission to be accepted after the outage");
    let last: TaskRecord[] = [];
    const records = await eventually(
      async () => {
        const all = await Promise.all(accepted.map(async (id) => (await api(stack.nodes[0], `/api/tasks/${id}`)).body as TaskRecord));
        last = all;
        return all.every((r) => r.status === "succeeded") ? all : undefined;
      },
      "every accepted task to succeed after the outage",
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last.map((r) => ({ id: r.id, status: r.status, attempts: r.attemptLog })))}`);
    });
    for (const record of records) {
      assert.equal(record.attemptLog.filter((a) => a.outcome === "succeeded").length, 1, `task ${record.id} succeeded once`);
    }
    assert.equal((await api(stack.nodes[0], "/healthz")).status, 200);
  });
});

describe("with Redis unreachable, a quorum queue's deliveries wait instead of counting towards its delivery limit", () => {
  let stack: Stack;
  let proxy: FaultProxy;
  let conn: ChannelModel;

  before(async () => {
    proxy = await FaultProxy.start(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
    // A delivery limit of 2: before, three deliveries during the outage (one every 2 s) dead-lettered a task.
    stack = await startStack({ workers: 1, env: { REDIS_URL: proxy.via(process.env.REDIS_URL ?? "redis://127.0.0.1:6379"), API_RATE: "0", TASK_QUEUE_TYPE: "quorum", TASK_DELIVERY_LIMIT: "2" } });
    conn = await connect(stack.config.RABBITMQ_URL);
  });
  after(async () => {
    proxy.restore();
    await conn.close();
    await stack.close();
    await proxy.close();
  });

  test("tasks published while Redis does not answer run once it is back; none is dead-lettered", async () => {
    proxy.blackhole();
    const channel = await conn.createConfirmChannel();
    const ids = Array.from({ length: 3 }, () => `outage-${randomUUID()}`);
    for (const id of ids) channel.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(JSON.stringify({ type: "echo", payload: { id }, id })), { persistent: true, messageId: id });
    await channel.waitForConfirms();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS)); // the outage lasts this long, whatever the worker does
    proxy.restore();
    for (const id of ids) {
      const record = await eventually(async () => {
        const res = await api(stack.nodes[0], `/api/tasks/${id}`);
        return res.status === 200 && res.body.status === "succeeded" ? (res.body as TaskRecord) : undefined;
      }, `task ${id} to succeed after the outage`, 30_000);
      assert.deepEqual(record.result, { id });
    }
    const dead = await channel.checkQueue(`${stack.config.TASK_QUEUE}.dead`);
    assert.equal(dead.messageCount, 0, "nothing was dead-lettered");
    await channel.close();
  });
});
