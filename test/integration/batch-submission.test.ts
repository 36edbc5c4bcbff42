// Bulk submission against real RabbitMQ and Redis: POST /api/tasks/batch and the task:submitBatch socket event
// queue a whole batch or nothing, answer in the order sent, and follow the single submission's rules.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { AuditPage } from "../../lib/auth";
import { MAX_BATCH_BODY_BYTES, MAX_BATCH_TASKS, type BatchSubmitAck, type TaskRecord } from "../../lib/contract";
import { authEnv, bearer, originOf, PASSWORDS, rawRequest, signIn, TOKENS, type RawResponse } from "../helpers/auth";
import { stackWithProxiedWebNode } from "../helpers/proxied-stack";
import { api, eventually, startStack, type Stack } from "../helpers/stack";
import { waitForStatus } from "../helpers/tasks";

describe("bulk submission", () => {
  let stack: Stack;
  let url: string;
  let alice: string;

  before(async () => {
    // No worker at first: what a refused batch leaves in the queue can be counted. API_RATE=0: tests send many requests.
    stack = await startStack({ workers: 0, env: { ...authEnv(), API_RATE: "0" } });
    url = stack.nodes[0].url;
    alice = await signIn(url, "alice", PASSWORDS.alice);
  });
  after(() => stack.close());

  const postBatch = (body: unknown, headers: Record<string, string> = bearer(TOKENS.ci)): Promise<RawResponse> =>
    rawRequest(url, { method: "POST", path: "/api/tasks/batch", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  const echoes = (n: number, marker: string) => Array.from({ length: n }, (_, i) => ({ type: "echo", payload: { marker, i } }));

  /** Messages waiting in the stack's queue (no worker takes them until the test that adds one). */
  const readyInQueue = async (): Promise<number> => (await rawRequest(url, { path: "/api/queue", headers: bearer(TOKENS.grafana) })).body.ready;
  /** Every record the stack's Redis holds (each stack has its own key prefix). */
  const allRecords = async (): Promise<TaskRecord[]> => (await rawRequest(url, { path: "/api/tasks?limit=500", headers: bearer(TOKENS.grafana) })).body.tasks;

  /** Asserts that `refuse` changes neither the queue nor the stored records. */
  async function queuesNothing(refuse: () => Promise<void>): Promise<void> {
    const [ready, records] = [await readyInQueue(), (await allRecords()).length];
    await refuse();
    assert.equal(await readyInQueue(), ready, "nothing was queued");
    assert.equal((await allRecords()).length, records, "no record was written");
  }

  test("a batch with invalid tasks is refused with 400 naming each index and its problem, and queues nothing", async () => {
    await queuesNothing(async () => {
      const tasks: unknown[] = echoes(20, "invalid");
      tasks[7] = { type: "teleport" };
      tasks[13] = { type: "echo", priority: 12, owner: "root" };
      tasks[15] = { type: "sleep", payload: { ms: "long" } };
      const res = await postBatch({ tasks });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.code, "invalid_input");
      assert.match(res.body.error, /^3 of 20 tasks are invalid, so nothing was queued/);
      assert.match(res.body.error, /tasks\[7\]: Unknown task type "teleport"/);
      assert.match(res.body.error, /tasks\[13\]: [^|]*priority must be from 0 to 9/);
      assert.match(res.body.error, /tasks\[13\]: [^|]*owner/);
      assert.match(res.body.error, /tasks\[15\]: Invalid payload for "sleep": ms/);
      assert.doesNotMatch(res.body.error, /tasks\[(0|6|8|19)\]/, "valid tasks are not named");
    });
  });

  test(`more than ${MAX_BATCH_TASKS} tasks, none, or no tasks array are refused with 400`, async () => {
    await queuesNothing(async () => {
      const tooMany = await postBatch({ tasks: echoes(MAX_BATCH_TASKS + 1, "too-many") });
      assert.equal(tooMany.status, 400, tooMany.text);
      assert.match(tooMany.body.error, /at most 1000 tasks/);
      const none = await postBatch({ tasks: [] });
      assert.equal(none.status, 400, none.text);
      assert.match(none.body.error, /at least one task/);
      const wrongShape = await postBatch([{ type: "echo" }]);
      assert.equal(wrongShape.status, 400, wrongShape.text);
      assert.match(wrongShape.body.error, /Invalid batch/);
    });
  });

  test("a body over 1 MiB is refused with 413; a task over 64 KiB inside a smaller batch with 400 at its index", async () => {
    await queuesNothing(async () => {
      const big = await postBatch({ tasks: [{ type: "echo", payload: { blob: "x".repeat(MAX_BATCH_BODY_BYTES) } }] });
      assert.equal(big.status, 413, big.text);
      assert.equal(big.body.code, "too_large");
      const oneBigTask = await postBatch({ tasks: [{ type: "echo" }, { type: "echo", payload: { blob: "x".repeat(70 * 1024) } }] });
      assert.equal(oneBigTask.status, 400, oneBigTask.text);
      assert.match(oneBigTask.body.error, /^1 of 2 tasks are invalid.*tasks\[1\]: the task is \d+ bytes as JSON; the limit for one task is 65536 bytes/);
    });
  });

  test("a viewer's batch is refused with 403, over HTTP and over the socket", async () => {
    await queuesNothing(async () => {
      const res = await postBatch({ tasks: echoes(3, "viewer") }, bearer(TOKENS.grafana));
      assert.equal(res.status, 403, res.text);
      assert.equal(res.body.code, "forbidden");
      const socket = await stack.connectSocket(url, { auth: { token: TOKENS.grafana } });
      const ack = (await socket.timeout(5000).emitWithAck("task:submitBatch", { tasks: echoes(3, "viewer") })) as BatchSubmitAck;
      assert.ok("error" in ack && ack.code === "forbidden", JSON.stringify(ack));
    });
  });

  test("a person's batch is one audit entry with its count", async () => {
    const marker = randomUUID();
    const res = await postBatch({ tasks: [...echoes(4, marker), { type: "sleep", payload: { ms: 10 } }] }, { Cookie: alice, Origin: originOf(url) });
    assert.equal(res.status, 202, res.text);
    const ids: string[] = res.body.tasks.map((t: { id: string }) => t.id);
    const entries = await eventually(async () => {
      const page = (await rawRequest(url, { path: "/api/audit?limit=200&actor=alice", headers: bearer(TOKENS.grafana) })).body as AuditPage;
      const mine = page.entries.filter((e) => e.action.startsWith("task.submit") && (e.target === ids[0] || ids.includes(e.target ?? "")));
      return mine.length > 0 ? mine : undefined;
    }, "alice's audit entry");
    assert.equal(entries.length, 1, "one entry for the whole batch");
    assert.equal(entries[0].action, "task.submit_batch");
    assert.equal(entries[0].target, ids[0]);
    assert.equal(entries[0].detail, `5 tasks: echo ×4, sleep ×1; ids ${ids[0]} to ${ids[4]}`);
    assert.equal(entries[0].via, "http");
  });

  test("an Idempotency-Key covers the whole batch: a replay answers the same ids and queues nothing; another body is refused", async () => {
    const key = `batch-${randomUUID()}`;
    const body = { tasks: echoes(10, key) };
    const first = await postBatch(body, { ...bearer(TOKENS.ci), "Idempotency-Key": key });
    assert.equal(first.status, 202, first.text);
    await queuesNothing(async () => {
      const again = await postBatch(body, { ...bearer(TOKENS.ci), "Idempotency-Key": key });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.headers["idempotent-replayed"], "true");
      assert.deepEqual(again.body, first.body, "the same answer, the same ids in the same order");
      const other = await postBatch({ tasks: echoes(10, "another") }, { ...bearer(TOKENS.ci), "Idempotency-Key": key });
      assert.equal(other.status, 422, other.text);
      assert.equal(other.body.code, "idempotency_key_reused");
      const single = await rawRequest(url, { method: "POST", path: "/api/tasks", headers: { ...bearer(TOKENS.ci), "Idempotency-Key": key }, body: { type: "echo" } });
      assert.equal(single.status, 422, "a batch's key is not a single task's");
    });
  });

  test("task:submitBatch acknowledges with the ids in order, and replays its idempotencyKey", async () => {
    const socket = await stack.connectSocket(url, { auth: { token: TOKENS.ci } });
    const key = `socket-batch-${randomUUID()}`;
    const tasks = echoes(5, key);
    const ack = (await socket.timeout(10_000).emitWithAck("task:submitBatch", { tasks, idempotencyKey: key })) as BatchSubmitAck;
    assert.ok(!("error" in ack), JSON.stringify(ack));
    if ("error" in ack) return;
    assert.equal(ack.replayed, false);
    assert.equal(ack.tasks.length, 5);
    for (const [i, task] of ack.tasks.entries()) {
      assert.equal(task.status, "queued");
      const record = (await rawRequest(url, { path: `/api/tasks/${task.id}`, headers: bearer(TOKENS.grafana) })).body as TaskRecord;
      assert.deepEqual(record.payload, { marker: key, i }, `task ${i} is the ${i}th sent`);
    }
    const again = (await socket.timeout(10_000).emitWithAck("task:submitBatch", { tasks, idempotencyKey: key })) as BatchSubmitAck;
    assert.deepEqual(again, { ...ack, replayed: true });
    const invalid = (await socket.timeout(10_000).emitWithAck("task:submitBatch", { tasks: [{ type: "echo" }, { type: "nope" }] })) as BatchSubmitAck;
    assert.ok("error" in invalid && invalid.code === "invalid_input" && /tasks\[1\]: Unknown task type "nope"/.test(invalid.error), JSON.stringify(invalid));
  });

  test("a valid batch of 50 answers 202 in the order sent, and a worker runs every task once", async () => {
    const marker = randomUUID();
    const res = await postBatch({ tasks: echoes(50, marker).map((t, i) => ({ ...t, priority: i % 10 })) });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.tasks.length, 50);
    assert.ok(res.body.tasks.every((t: { status: string }) => t.status === "queued"));
    const ids: string[] = res.body.tasks.map((t: { id: string }) => t.id);
    assert.equal(new Set(ids).size, 50, "50 distinct ids");
    // Every task the earlier tests queued runs too; only this batch's are checked.
    await stack.addWorker();
    const records = await eventually(async () => {
      const found = (await allRecords()).filter((r) => (r.payload as { marker?: string })?.marker === marker);
      return found.length === 50 && found.every((r) => r.status === "succeeded") ? found : undefined;
    }, "the batch's 50 tasks to succeed", 30_000);
    const byId = new Map(records.map((r) => [r.id, r]));
    for (const [i, id] of ids.entries()) {
      const record = byId.get(id);
      assert.ok(record, `task ${i} has a record`);
      assert.deepEqual(record.result, { marker, i }, `the answer's ${i}th id is the ${i}th task sent`);
      assert.equal(record.priority, i % 10);
      assert.equal(record.attempts, 1, "ran once");
      assert.equal(record.attemptLog.length, 1, "one attempt");
    }
  });

  test("a replayed batch never runs twice: every task of every batch ran exactly once and the queue is empty", async () => {
    await eventually(async () => ((await readyInQueue()) === 0 ? true : undefined), "the queue to drain", 30_000);
    const records = await eventually(async () => {
      const all = await allRecords();
      return all.every((r) => r.status === "succeeded") ? all : undefined;
    }, "every task to finish", 30_000);
    // The audit batch (5), the keyed batch (10, replayed once), the socket batch (5, replayed once) and the 50.
    assert.equal(records.length, 70, "no task was created twice");
    assert.ok(records.every((r) => r.attempts === 1), "none ran twice");
  });
});

describe("a batch RabbitMQ does not confirm in time stays tracked, and its key replays it once confirmed", () => {
  const fixture = stackWithProxiedWebNode();

  const post = (body: object, key: string) => api(fixture.stack.nodes[0], "/api/tasks/batch", { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": key }, body: JSON.stringify(body) });
  const marked = async (marker: string): Promise<TaskRecord[]> =>
    ((await api(fixture.stack.nodes[0], "/api/tasks?limit=100")).body.tasks as TaskRecord[]).filter((t) => (t.payload as { marker?: string }).marker === marker);

  test("503 after the confirm timeout with every task tracked; a replay meanwhile 409; once confirmed each runs once and the key replays the ids", async () => {
    const { stack, proxy } = fixture;
    const key = `late-batch-${randomUUID()}`;
    const marker = randomUUID();
    const body = { tasks: Array.from({ length: 5 }, (_, i) => ({ type: "echo", payload: { marker, i } })) };
    proxy.blackhole(); // RabbitMQ's confirms stop reaching the web node
    const first = post(body, key);
    await eventually(async () => ((await marked(marker)).length === 5 ? true : undefined), "the batch's 5 records");

    const replay = await post(body, key);
    assert.equal(replay.status, 409, `a replay before the confirms: ${JSON.stringify(replay.body)}`);
    const refused = await first;
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(refused.body.error, /did not confirm all 5 tasks.*may still be queued and stay tracked/);
    const tracked = await marked(marker);
    assert.deepEqual(tracked.map((t) => t.status), Array(5).fill("queued"), "every task stays tracked");

    proxy.restore(); // the held publishes reach RabbitMQ, which confirms them
    for (const t of tracked) assert.equal((await waitForStatus(stack, t.id, ["succeeded"])).attempts, 1);
    const again = await eventually(async () => {
      const res = await post(body, key);
      return res.status === 200 ? res : undefined;
    }, "the key to replay the confirmed batch");
    const byIndex = new Map(tracked.map((t) => [(t.payload as { i: number }).i, t.id]));
    assert.deepEqual(again.body.tasks.map((t: { id: string }) => t.id), [0, 1, 2, 3, 4].map((i) => byIndex.get(i)), "the same ids, in the order sent");
    assert.equal((await marked(marker)).length, 5, "five tasks, none made twice");
  });
});

describe("a batch RabbitMQ takes only part of", () => {
  test("503 naming the refused indexes, the others tracked and queued; a replay of its key answers 409 at once and queues nothing", async (t) => {
    const ctl = promisify(execFile);
    const url = new URL(process.env.RABBITMQ_URL ?? "amqp://127.0.0.1:5672");
    if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) return t.skip("RABBITMQ_URL points at another machine; this test sets a policy with rabbitmqctl");
    // No worker: the queue keeps what it takes. A policy caps it at 3 messages and refuses (nacks) the rest.
    const stack = await startStack({ workers: 0 });
    const policy = `${stack.config.TASK_QUEUE}-cap`;
    try {
      await ctl("rabbitmqctl", ["-q", "set_policy", "--apply-to", "queues", policy, `^${stack.config.TASK_QUEUE}$`, JSON.stringify({ "max-length": 3, overflow: "reject-publish" })], { timeout: 60_000 });
      const node = stack.nodes[0];
      const key = `partial-${randomUUID()}`;
      const marker = randomUUID();
      const body = JSON.stringify({ tasks: Array.from({ length: 5 }, (_, i) => ({ type: "echo", payload: { marker, i } })) });
      const post = () => api(node, "/api/tasks/batch", { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": key }, body });
      await eventually(async () => {
        const { stdout } = await ctl("rabbitmqctl", ["-q", "list_queues", "name", "policy", "--no-table-headers"], { timeout: 60_000 });
        return stdout.split("\n").some((line) => line.split(/\s+/)[0] === stack.config.TASK_QUEUE && line.includes(policy)) ? true : undefined;
      }, "the policy to reach the queue", 30_000);
      const first = await post();
      assert.equal(first.status, 503, JSON.stringify(first.body));
      assert.match(first.body.error, /RabbitMQ refused 2 of 5 tasks \(indexes 3, 4\).*The other 3 were queued and will run.*spent for 24 hours/);
      const marked = async () => ((await api(node, "/api/tasks?limit=100")).body.tasks as TaskRecord[]).filter((r) => (r.payload as { marker?: string }).marker === marker);
      const kept = await eventually(async () => {
        const found = await marked();
        return found.length === 3 ? found : undefined;
      }, "the refused tasks' records to be removed");
      assert.deepEqual(kept.map((r) => (r.payload as { i: number }).i).sort(), [0, 1, 2], "the queued tasks stay tracked");
      assert.equal((await api(node, "/api/queue")).body.ready, 3);
      const started = Date.now();
      const again = await eventually(async () => {
        const res = await post();
        return res.status === 409 && /only partly queued/.test(res.body.error) ? res : undefined;
      }, "the key to answer that its batch was partly queued");
      assert.ok(Date.now() - started < 2000, "without waiting for a confirm that never comes");
      assert.match(again.body.error, /send the refused tasks under a new key/);
      assert.equal((await api(node, "/api/queue")).body.ready, 3, "the replay queued nothing");
      assert.equal((await marked()).length, 3, "and made no record");
    } finally {
      await ctl("rabbitmqctl", ["-q", "clear_policy", policy], { timeout: 60_000 }).catch(() => undefined);
      await stack.close();
    }
  });
});
