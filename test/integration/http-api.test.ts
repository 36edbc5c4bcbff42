// The HTTP contract against real RabbitMQ and Redis: tasks, queue, broadcasts, health and bad input.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TaskRecordSchema } from "../../lib/contract";
import { api, eventually, postJson, startStack, type Stack } from "../helpers/stack";

describe("HTTP API with a worker", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 1 });
  });
  after(() => stack.close());

  test("GET /healthz reports both dependencies up", async () => {
    const res = await api(stack.nodes[0], "/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: "ok", rabbitmq: "up", redis: "up" });
  });

  test("an echo task is accepted with 202, runs, and its record carries the payload as result", async () => {
    const payload = { hello: "world", n: 42 };
    const res = await postJson(stack.nodes[0], "/api/tasks", { type: "echo", payload });
    assert.equal(res.status, 202);
    assert.equal(res.body.status, "queued");
    assert.match(res.body.id, /^[0-9a-f-]{36}$/);
    const record = await eventually(async () => {
      const { body } = await api(stack.nodes[0], `/api/tasks/${res.body.id}`);
      return body.status === "succeeded" ? body : undefined;
    }, "the echo task to succeed");
    TaskRecordSchema.parse(record);
    assert.deepEqual(record.result, payload);
    assert.deepEqual(record.payload, payload);
    assert.equal(record.attempts, 1);
    assert.equal(record.progress, 1);
    assert.ok(record.startedAt && record.finishedAt && record.worker);
  });

  test("a fail task ends failed with its message as the error", async () => {
    const res = await postJson(stack.nodes[0], "/api/tasks", { type: "fail", payload: { message: "boom on purpose" } });
    assert.equal(res.status, 202);
    const record = await eventually(async () => {
      const { body } = await api(stack.nodes[0], `/api/tasks/${res.body.id}`);
      return body.status === "failed" ? body : undefined;
    }, "the fail task to fail");
    assert.equal(record.error, "boom on purpose");
  });

  test("a sleep task without payload sleeps 3 s by default and is listed as running meanwhile", async () => {
    const res = await postJson(stack.nodes[0], "/api/tasks", { type: "sleep" });
    assert.equal(res.status, 202);
    const running = await eventually(async () => {
      const { body } = await api(stack.nodes[0], "/api/tasks?status=running&limit=50");
      return body.tasks.find((t: { id: string }) => t.id === res.body.id);
    }, "the sleep task to be listed as running");
    assert.equal(running.status, "running");
    assert.deepEqual(running.payload, {});
    const done = await eventually(async () => {
      const { body } = await api(stack.nodes[0], `/api/tasks/${res.body.id}`);
      return body.status === "succeeded" ? body : undefined;
    }, "the sleep task to succeed", 10_000);
    assert.deepEqual(done.result, { slept: 3000 });
    assert.ok(Date.parse(done.finishedAt) - Date.parse(done.startedAt) >= 2900);
  });

  test("GET /api/tasks lists newest first and honours status and limit", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await postJson(stack.nodes[0], "/api/tasks", { type: "echo", payload: { i } })).body.id);
    await eventually(async () => {
      const { body } = await api(stack.nodes[0], "/api/tasks?status=succeeded&limit=50");
      return ids.every((id) => body.tasks.some((t: { id: string }) => t.id === id)) || undefined;
    }, "three echo tasks to succeed");
    const { body } = await api(stack.nodes[0], "/api/tasks?limit=3");
    assert.equal(body.tasks.length, 3);
    assert.deepEqual(body.tasks.map((t: { id: string }) => t.id), [...ids].reverse());
    const failed = await api(stack.nodes[0], "/api/tasks?status=failed");
    assert.ok(failed.body.tasks.every((t: { status: string }) => t.status === "failed"));
    const bad = await api(stack.nodes[0], "/api/tasks?status=sleeping");
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /status/);
  });

  test("GET /api/tasks/:id answers 404 for an unknown id", async () => {
    const res = await api(stack.nodes[0], "/api/tasks/no-such-task");
    assert.equal(res.status, 404);
    assert.match(res.body.error, /no-such-task/);
  });

  test("GET /api/queue shows the queue and the worker as a consumer", async () => {
    const res = await api(stack.nodes[0], "/api/queue");
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ["consumers", "dead", "paused", "queue", "ready", "unacked"]);
    assert.equal(res.body.queue, stack.config.TASK_QUEUE);
    assert.equal(res.body.consumers, 1);
    assert.equal(res.body.paused, false);
  });
});

describe("HTTP API refuses bad input and enqueues nothing", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 0 });
  });
  after(() => stack.close());

  const badTasks: Array<[string, string | object, number, RegExp]> = [
    ["invalid JSON", "{type: sleep", 400, /not valid JSON/],
    ["an empty body", "", 400, /empty/],
    ["a JSON array", "[1,2]", 400, /Invalid task/],
    ["a missing type", { payload: {} }, 400, /type/],
    ["a non-string type", { type: 7 }, 400, /type/],
    ["an unknown type", { type: "teleport" }, 400, /Unknown task type "teleport".*sleep, echo, fail/],
    ["a payload that is not an object", { type: "echo", payload: "text" }, 400, /payload/],
    ["a payload of the wrong shape", { type: "sleep", payload: { ms: "soon" } }, 400, /Invalid payload for "sleep": ms/],
    ["a sleep over 10 minutes", { type: "sleep", payload: { ms: 600_001 } }, 400, /at most 600000/],
    ["an unknown field", { type: "echo", extra: 1 }, 400, /extra/],
    ["a body over 64 KiB", { type: "echo", payload: { blob: "x".repeat(70 * 1024) } }, 413, /limit/],
  ];
  for (const [what, body, status, message] of badTasks) {
    test(`POST /api/tasks with ${what} answers ${status} with a clear error`, async () => {
      const res = await postJson(stack.nodes[0], "/api/tasks", body);
      assert.equal(res.status, status);
      assert.match(res.body.error, message);
    });
  }

  test("a body over 64 KiB without Content-Length is refused with 413 too", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 6; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${stack.nodes[0].url}/api/tasks`, { method: "POST", body: stream, duplex: "half" } as RequestInit);
    assert.equal(res.status, 413);
  });

  test("after all the bad input nothing was queued or recorded", async () => {
    const queue = await api(stack.nodes[0], "/api/queue");
    assert.equal(queue.body.ready, 0);
    const tasks = await api(stack.nodes[0], "/api/tasks");
    assert.deepEqual(tasks.body.tasks, []);
  });

  test("a valid task waits in the queue while no worker runs", async () => {
    const res = await postJson(stack.nodes[0], "/api/tasks", { type: "echo" });
    assert.equal(res.status, 202);
    const queue = await eventually(async () => {
      const { body } = await api(stack.nodes[0], "/api/queue");
      return body.ready === 1 ? body : undefined;
    }, "the queue to hold one ready message");
    assert.equal(queue.consumers, 0);
    const { body } = await api(stack.nodes[0], `/api/tasks/${res.body.id}`);
    assert.equal(body.status, "queued");
  });

  const badBroadcasts: Array<[string, string | object, number, RegExp]> = [
    ["an empty message", { message: "" }, 400, /must not be empty/],
    ["a blank message", { message: "   " }, 400, /must not be empty/],
    ["a non-string message", { message: 12 }, 400, /must be a string/],
    ["no message", {}, 400, /message/],
    ["invalid JSON", "nope", 400, /not valid JSON/],
    ["a message over 4 KiB", { message: "é".repeat(2049) }, 413, /4096 bytes/],
  ];
  for (const [what, body, status, message] of badBroadcasts) {
    test(`POST /api/broadcasts with ${what} answers ${status}`, async () => {
      const res = await postJson(stack.nodes[0], "/api/broadcasts", body);
      assert.equal(res.status, status);
      assert.match(res.body.error, message);
    });
  }

  test("broadcasts get increasing ids and are listed newest first; refused ones are not", async () => {
    const first = await postJson(stack.nodes[0], "/api/broadcasts", { message: "first" });
    const second = await postJson(stack.nodes[0], "/api/broadcasts", { message: "second <b>bold</b>" });
    assert.equal(first.status, 202);
    assert.ok(Number(second.body.id) > Number(first.body.id));
    const { body } = await api(stack.nodes[0], "/api/broadcasts?limit=50");
    assert.deepEqual(
      body.broadcasts.map((b: { message: string; source: string }) => [b.message, b.source]),
      [
        ["second <b>bold</b>", "api"],
        ["first", "api"],
      ],
    );
    assert.ok(!Number.isNaN(Date.parse(body.broadcasts[0].at)));
  });

  test("unknown API routes answer 404 and wrong methods 405, as JSON", async () => {
    const missing = await api(stack.nodes[0], "/api/nothing-here");
    assert.equal(missing.status, 404);
    assert.match(missing.body.error, /No API route/);
    const wrong = await api(stack.nodes[0], "/api/queue", { method: "DELETE" });
    assert.equal(wrong.status, 405);
    assert.match(wrong.body.error, /use GET/);
  });
});
