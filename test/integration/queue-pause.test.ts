// Pausing and resuming a queue, against the real RabbitMQ and Redis on two web nodes: the endpoints and their bad
// inputs, the state in GET /api/queue(s) and the live stream on every node, and a real Taskcast worker that stops
// taking tasks within a second of a pause (and one that starts while paused), and starts again on resume.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import type { AuditEntry } from "../../lib/auth";
import type { QueueList, QueueStats, TaskRecord } from "../../lib/contract";
import { authEnv, bearer, TOKENS } from "../helpers/auth";
import { api, eventually, nextEvent, startStack, type Stack } from "../helpers/stack";
import type { WebNode } from "../../server/web-node";

const operator = bearer(TOKENS.ci);
const viewer = bearer(TOKENS.grafana);

describe("pausing and resuming a queue", () => {
  let stack: Stack;
  let queue: string;
  const post = (node: WebNode, path: string, headers: Record<string, string> = operator) => api(node, path, { method: "POST", headers });
  const get = (node: WebNode, path: string) => api(node, path, { headers: viewer });
  const submit = async (node: WebNode, ms: number): Promise<string> => {
    const res = await api(node, "/api/tasks", { method: "POST", headers: { ...operator, "Content-Type": "application/json" }, body: JSON.stringify({ type: "sleep", payload: { ms } }) });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  };
  const task = async (id: string): Promise<TaskRecord> => (await get(stack.nodes[1], `/api/tasks/${id}`)).body as TaskRecord;
  const waitFor = (id: string, status: TaskRecord["status"], timeoutMs = 15_000) => eventually(async () => ((await task(id)).status === status ? Date.now() : undefined), `task ${id} ${status}`, timeoutMs, 25);
  const consumers = async (node: WebNode) => ((await get(node, "/api/queue")).body as QueueStats).consumers;

  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 1, env: authEnv() });
    queue = stack.config.TASK_QUEUE;
    await eventually(async () => ((await consumers(stack.nodes[0])) === 1 ? true : undefined), "the worker consuming");
  });

  after(async () => {
    await stack.close();
  });

  test("bad requests: an unknown queue is 404, a viewer 403, no sign-in 401, GET 405, a bad escape 400", async () => {
    const [a] = stack.nodes;
    const unknown = await post(a, `/api/queues/no-such-queue-${queue}/pause`);
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
    assert.equal(unknown.body.code, "not_found");
    assert.match(unknown.body.error, new RegExp(`"${queue}"`), "the message names the queues Taskcast knows");
    for (const action of ["pause", "resume"]) {
      const refused = await post(a, `/api/queues/${queue}/${action}`, viewer);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.equal((await post(a, `/api/queues/${queue}/${action}`, {})).status, 401);
      const wrongMethod = await get(a, `/api/queues/${queue}/${action}`);
      assert.equal(wrongMethod.status, 405, JSON.stringify(wrongMethod.body));
    }
    assert.equal((await post(a, "/api/queues/%E0%A4%A/pause")).status, 400);
    // None of them paused anything.
    assert.equal(((await get(a, "/api/queue")).body as QueueStats).paused, false);
  });

  test("a pause on one node is seen on the other and live in its tabs; pausing twice is 200 and says nothing changed; both are audited", async () => {
    const [a, b] = stack.nodes;
    const socket = await stack.connectSocket(b, { auth: { token: TOKENS.ci } });
    const pushed = nextEvent(socket, "queues:stats", (list: QueueList) => list.queues[0].paused);
    const first = await post(a, `/api/queues/${encodeURIComponent(queue)}/pause`);
    assert.deepEqual([first.status, first.body], [200, { queue, paused: true, changed: true }]);
    const second = await post(b, `/api/queues/${queue}/pause`);
    assert.deepEqual([second.status, second.body], [200, { queue, paused: true, changed: false }]);
    assert.equal((await pushed).queues[0].queue, queue);
    assert.equal(((await get(b, "/api/queue")).body as QueueStats).paused, true);
    assert.equal(((await get(b, "/api/queues")).body as QueueList).queues[0].paused, true);

    const resumedLive = nextEvent(socket, "queues:stats", (list: QueueList) => !list.queues[0].paused);
    assert.deepEqual((await post(b, `/api/queues/${queue}/resume`)).body, { queue, paused: false, changed: true });
    assert.deepEqual((await post(a, `/api/queues/${queue}/resume`)).body, { queue, paused: false, changed: false });
    await resumedLive;
    assert.equal(((await get(a, "/api/queue")).body as QueueStats).paused, false);

    const entries = async () => ((await get(a, "/api/audit?limit=50")).body.entries as AuditEntry[]).filter((e) => e.action.startsWith("queue."));
    const audited = await eventually(async () => {
      const list = await entries();
      return list.length === 4 ? list : undefined;
    }, "four queue entries in the audit log");
    assert.deepEqual(
      audited.map((e) => [e.action, e.target, e.actor.name, e.detail?.startsWith("already") ?? false]).reverse(),
      [
        ["queue.pause", queue, "ci", false],
        ["queue.pause", queue, "ci", true],
        ["queue.resume", queue, "ci", false],
        ["queue.resume", queue, "ci", true],
      ],
    );
  });

  test("a paused queue: the worker stops consuming within 1 s, its running task finishes, a new task waits queued and runs within ~1 s of resume", async () => {
    const [a, b] = stack.nodes;
    const running = await submit(a, 1500);
    await waitFor(running, "running");
    const pausedAt = Date.now();
    assert.equal((await post(a, `/api/queues/${queue}/pause`)).status, 200);
    await eventually(async () => ((await consumers(b)) === 0 ? true : undefined), "no consumer on the paused queue", 1000, 25);
    assert.ok(Date.now() - pausedAt <= 1000, `consumer gone ${Date.now() - pausedAt} ms after the pause`);
    const waiting = await submit(b, 10);
    await waitFor(running, "succeeded");
    await sleep(2500);
    assert.equal((await task(waiting)).status, "queued", "a task submitted while paused waits");
    assert.equal(((await get(a, "/api/queue")).body as QueueStats).ready, 1, "it waits in RabbitMQ");
    const resumedAt = Date.now();
    assert.equal((await post(b, `/api/queues/${queue}/resume`)).status, 200);
    const ranAt = await waitFor(waiting, "succeeded", 5000);
    assert.ok(ranAt - resumedAt < 2000, `ran ${ranAt - resumedAt} ms after the resume`);
  });

  test("a worker started while its queue is paused stays paused until resume", async () => {
    const [a, b] = stack.nodes;
    assert.equal((await post(a, `/api/queues/${queue}/pause`)).status, 200);
    await eventually(async () => ((await consumers(a)) === 0 ? true : undefined), "the first worker paused");
    await stack.addWorker();
    const waiting = await submit(a, 10);
    await sleep(2500);
    assert.equal((await task(waiting)).status, "queued");
    assert.equal(await consumers(b), 0, "neither worker consumes");
    const resumedAt = Date.now();
    assert.equal((await post(b, `/api/queues/${queue}/resume`)).status, 200);
    const ranAt = await waitFor(waiting, "succeeded", 5000);
    assert.ok(ranAt - resumedAt < 2000, `ran ${ranAt - resumedAt} ms after the resume`);
    await eventually(async () => ((await consumers(a)) === 2 ? true : undefined), "both workers consuming again", 2000);
  });
});
