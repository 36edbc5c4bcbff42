// Handler log lines against the real RabbitMQ and Redis: GET /api/tasks/:id/logs (with its auth and 404), the caps
// (200 newest lines per attempt, 2 KiB a line), removal with the record, and live delivery to a following socket.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { z } from "zod";
import { MAX_LOG_LINE_BYTES, type TaskLogBatch, type TaskLogLine } from "../../lib/task-logs";
import { redisKeys } from "../../server/redis/keys";
import { TaskLogStore } from "../../server/store/task-logs";
import { TaskStore } from "../../server/store/task-store";
import { defineTask, type TaskDefinition } from "../../server/tasks/define-task";
import { taskTypes } from "../../server/tasks/registry";
import { authEnv, bearer, TOKENS } from "../helpers/auth";
import { api, eventually, startStack, type Stack } from "../helpers/stack";

const types = taskTypes as Map<string, TaskDefinition>;

/** `test-logs`: logs `count` lines in `bursts` (a pause between them lets the worker flush), then fails on attempt 1 if `failFirst`. */
const logsTask = defineTask({
  name: "test-logs",
  description: "test: logs numbered lines",
  example: {},
  payload: z.strictObject({ count: z.number().int(), bursts: z.number().int().default(1), huge: z.boolean().default(false), failFirst: z.boolean().default(false) }),
  retry: { maxAttempts: 2, backoffMs: 50, maxBackoffMs: 50 },
  async run({ count, bursts, huge, failFirst }, ctx) {
    if (huge) {
      ctx.log("é".repeat(3000), { small: 1 });
      ctx.log("big fields", { blob: "x".repeat(5000) });
      ctx.log("ok", { small: 2 });
      return {};
    }
    const per = Math.ceil(count / bursts);
    for (let i = 1; i <= count; i++) {
      ctx.log(`line ${i} of attempt ${ctx.attempt}`, { i });
      if (i % per === 0 && i < count) await new Promise((r) => setTimeout(r, 400));
    }
    if (failFirst && ctx.attempt === 1) throw new Error("first attempt fails (the test)");
    return { logged: count };
  },
});

describe("handler log lines", () => {
  let stack: Stack;
  /** Every line the stack's processes logged (JSON). */
  const logged: Array<Record<string, unknown>> = [];
  const viewer = { headers: bearer(TOKENS.grafana) };
  const operator = { "Content-Type": "application/json", ...bearer(TOKENS.ci) };
  before(async () => {
    types.set("test-logs", logsTask as unknown as TaskDefinition);
    const log = pino({ level: "info" }, { write: (text: string) => void logged.push(JSON.parse(text) as Record<string, unknown>) });
    stack = await startStack({ env: { ...authEnv(), TASK_HISTORY_LIMIT: "3" }, log });
  });
  after(async () => {
    types.delete("test-logs");
    await stack.close();
  });

  const submit = async (body: object): Promise<string> => {
    const res = await api(stack.nodes[0], "/api/tasks", { method: "POST", headers: operator, body: JSON.stringify(body) });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  };
  const logsOf = async (id: string): Promise<TaskLogLine[]> => {
    const res = await api(stack.nodes[0], `/api/tasks/${encodeURIComponent(id)}/logs`, viewer);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.logs as TaskLogLine[];
  };
  /** Waits through the API as a viewer (waitForStatus sends no credentials). */
  const settled = (id: string) =>
    eventually(async () => {
      const res = await api(stack.nodes[0], `/api/tasks/${encodeURIComponent(id)}`, viewer);
      return res.status === 200 && ["succeeded", "failed", "dead"].includes(res.body.status) ? res.body : undefined;
    }, `task ${id} to finish`);

  test("GET /api/tasks/:id/logs: the sleep task's lines oldest first, 404 for an unknown task, the same auth as the task", async () => {
    const id = await submit({ type: "sleep", payload: { ms: 800 } });
    await settled(id);
    const logs = await logsOf(id);
    assert.ok(logs.length >= 3, `a line per progress step and one at the end: ${JSON.stringify(logs)}`);
    assert.deepEqual(logs.map((l) => l.n), logs.map((_, i) => i + 1));
    assert.ok(logs.every((l) => l.attempt === 1 && typeof l.at === "string"));
    assert.match(logs[0].message, /^slept 0 of 800 ms$/);
    assert.deepEqual(logs[0].fields, { elapsed: 0, ms: 800 });
    assert.equal(logs.at(-1)!.message, "done: slept 800 ms");
    assert.ok(logs.every((l, i) => i === 0 || l.at >= logs[i - 1].at), "oldest first");
    // The worker's own log has each line, with the task id.
    const inWorkerLog = logged.filter((entry) => entry.taskId === id && typeof entry.msg === "string" && /slept/.test(entry.msg));
    assert.deepEqual(inWorkerLog.map((entry) => entry.msg), logs.map((l) => l.message));
    assert.deepEqual(inWorkerLog[0], { ...inWorkerLog[0], level: 30, attempt: 1, fields: { elapsed: 0, ms: 800 } });

    const unknown = await api(stack.nodes[0], "/api/tasks/no-such-task/logs", viewer);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /No task with id "no-such-task"/);
    const anonymous = await api(stack.nodes[0], `/api/tasks/${id}/logs`);
    assert.equal(anonymous.status, (await api(stack.nodes[0], `/api/tasks/${id}`)).status);
    assert.equal(anonymous.status, 401);
  });

  test("each attempt keeps its newest 200 lines, across flushes; a line over 2 KiB is cut and says so", async () => {
    // Attempt 1: 150 lines, a flush, 100 more (50 of the stored ones go), then it fails; attempt 2 the same.
    const id = await submit({ type: "test-logs", payload: { count: 250, bursts: 2, failFirst: true } });
    await settled(id);
    const logs = await logsOf(id);
    const first = logs.filter((l) => l.attempt === 1);
    const second = logs.filter((l) => l.attempt === 2);
    assert.equal(first.length, 200);
    assert.deepEqual(first.map((l) => l.n), Array.from({ length: 200 }, (_, i) => i + 51));
    assert.equal(first[0].message, "line 51 of attempt 1");
    assert.equal(second.length, 250 - 50);
    assert.deepEqual(second.map((l) => l.n), Array.from({ length: 200 }, (_, i) => i + 51));
    assert.deepEqual(logs.map((l) => l.attempt), [...first.map(() => 1), ...second.map(() => 2)], "grouped by attempt, oldest first");

    const hugeId = await submit({ type: "test-logs", payload: { count: 0, huge: true } });
    await settled(hugeId);
    const [long, bigFields, ok] = await logsOf(hugeId);
    const size = (l: TaskLogLine) => Buffer.byteLength(l.message) + (l.fields ? Buffer.byteLength(JSON.stringify(l.fields)) : 0);
    assert.ok(size(long) <= MAX_LOG_LINE_BYTES && size(long) > MAX_LOG_LINE_BYTES - 100, `cut near 2 KiB: ${size(long)}`);
    assert.match(long.message, /^é+ … \[truncated: line was 6011 bytes, over 2048\]$/);
    assert.deepEqual(long.fields, { small: 1 });
    assert.equal(bigFields.fields, undefined);
    assert.match(bigFields.message, /^big fields … \[truncated: line was 5021 bytes, over 2048; fields \(5011 bytes\) dropped\]$/);
    assert.deepEqual(ok.fields, { small: 2 });
    assert.ok(size(bigFields) <= MAX_LOG_LINE_BYTES);
  });

  test("a task that never logs has no lines in Redis; lines go when retention trims the record or it is removed", async () => {
    const keys = redisKeys(stack.config.KEY_PREFIX);
    const quiet = await submit({ type: "echo", payload: {} });
    await settled(quiet);
    assert.equal(await stack.redis.exists(keys.taskLogs(quiet)), 0);
    assert.deepEqual(await logsOf(quiet), []);

    const first = await submit({ type: "test-logs", payload: { count: 3 } });
    await settled(first);
    assert.equal(await stack.redis.llen(keys.taskLogs(first)), 3);
    // TASK_HISTORY_LIMIT is 3: three more finished tasks trim the first record, and its lines with it.
    for (let i = 0; i < 3; i++) await settled(await submit({ type: "test-logs", payload: { count: 1 } }));
    await eventually(async () => ((await stack.redis.exists(keys.task(first))) === 0 ? true : undefined), "the first record to be trimmed");
    assert.equal(await stack.redis.exists(keys.taskLogs(first)), 0);
    assert.equal((await api(stack.nodes[0], `/api/tasks/${first}/logs`, viewer)).status, 404);

    const store = new TaskStore(stack.redis, keys, stack.config.TASK_HISTORY_LIMIT);
    const removed = await submit({ type: "test-logs", payload: { count: 2 } });
    await settled(removed);
    assert.equal(await stack.redis.llen(keys.taskLogs(removed)), 2);
    await store.remove(removed);
    assert.equal(await stack.redis.exists(keys.taskLogs(removed)), 0);
    // Lines for a task with no record (trimmed or removed meanwhile) are not written: no list outlives its record.
    assert.equal(await new TaskLogStore(stack.redis, keys).append(removed, [{ attempt: 1, n: 3, at: new Date().toISOString(), message: "late" }], 2), false);
    assert.equal(await stack.redis.exists(keys.taskLogs(removed)), 0);
  });

  test("a socket following a task receives its lines live, and only that task's", async () => {
    const socket = await stack.connectSocket(stack.nodes[0], { auth: { token: TOKENS.grafana } });
    const batches: TaskLogBatch[] = [];
    socket.on("task:logs", (batch) => batches.push(batch));
    const other = await submit({ type: "test-logs", payload: { count: 2 } });
    const id = await submit({ type: "sleep", payload: { ms: 1500 } });
    const ack = await socket.timeout(5000).emitWithAck("task:logs:follow", id);
    assert.deepEqual(ack, { taskId: id });
    // Live while the task runs: a batch arrives before it has finished.
    const live = await eventually(async () => (batches.length > 0 ? batches[0] : undefined), "a live batch of lines");
    assert.equal(live.taskId, id);
    const status = (await api(stack.nodes[0], `/api/tasks/${id}`, viewer)).body.status;
    assert.equal(status, "running");
    await settled(id);
    await settled(other);
    await eventually(async () => (batches.flatMap((b) => b.lines).some((l) => l.message.startsWith("done")) ? true : undefined), "the last line");
    assert.ok(batches.every((b) => b.taskId === id), "only the followed task's lines");
    // The lines stored before the socket followed the task came before it: the rest arrived, in order.
    const received = batches.flatMap((b) => b.lines);
    assert.deepEqual(received, (await logsOf(id)).slice(-received.length), "the same lines as the API, in order");

    const bad = await socket.timeout(5000).emitWithAck("task:logs:follow", 42 as unknown as string);
    assert.ok("error" in bad && /Invalid task id/.test(bad.error));
  });
});
