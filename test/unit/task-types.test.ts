import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { backoffDelay, DEFAULT_RETRY, defineTask, retryPolicy } from "../../server/tasks/define-task";
import { checkTask, taskTypeInfo, taskTypes } from "../../server/tasks/registry";
import { sleepTask } from "../../server/tasks/sleep";

const ctx = (progress: number[] = []) => ({ progress: (p: number) => void progress.push(p), log: () => undefined, signal: new AbortController().signal, attempt: 1, taskId: "t" });

test("the built-in types are sleep, echo, fail and flaky, each with a valid example", () => {
  assert.deepEqual(taskTypeInfo().map((t) => t.name), ["sleep", "echo", "fail", "flaky"]);
  for (const info of taskTypeInfo()) assert.ok(checkTask(info.name, info.example).ok, info.name);
});

test("checkTask names unknown types and explains invalid payloads", () => {
  const unknown = checkTask("nope", {});
  assert.ok(!unknown.ok && /Unknown task type "nope"/.test(unknown.error));
  const bad = checkTask("sleep", { ms: -1 });
  assert.ok(!bad.ok && /Invalid payload for "sleep": ms/.test(bad.error));
  const extra = checkTask("sleep", { ms: 1, other: true });
  assert.ok(!extra.ok && /other/.test(extra.error));
});

test("sleep defaults to 3000 ms and caps at 10 minutes", () => {
  const d = checkTask("sleep", undefined);
  assert.ok(d.ok && d.payload.ms === 3000);
  assert.ok(checkTask("sleep", { ms: 600_000 }).ok);
  assert.ok(!checkTask("sleep", { ms: 600_001 }).ok);
});

test("sleep reports rising progress ending at 1", async () => {
  const seen: number[] = [];
  const result = await sleepTask.run({ ms: 600 }, ctx(seen));
  assert.deepEqual(result, { slept: 600 });
  assert.equal(seen.at(-1), 1);
  assert.ok(seen.length >= 3, `progress reported ${seen.length} times`);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
});

test("sleep stops when aborted", async () => {
  const controller = new AbortController();
  const running = sleepTask.run({ ms: 10_000 }, { progress: () => undefined, log: () => undefined, signal: controller.signal, attempt: 1, taskId: "t" });
  controller.abort();
  await assert.rejects(running);
});

test("echo returns its payload and fail throws its message", async () => {
  const echo = checkTask("echo", { a: [1, 2] });
  assert.ok(echo.ok);
  assert.deepEqual(await echo.definition.run(echo.payload, ctx()), { a: [1, 2] });
  const fail = checkTask("fail", { message: "nope" });
  assert.ok(fail.ok);
  await assert.rejects(fail.definition.run(fail.payload, ctx()), /nope/);
});

test("flaky throws for its first failures, then succeeds", async () => {
  const flaky = checkTask("flaky", { failures: 2 });
  assert.ok(flaky.ok);
  await assert.rejects(flaky.definition.run(flaky.payload, { ...ctx(), attempt: 2 }), /flaky failure 2 of 2/);
  assert.deepEqual(await flaky.definition.run(flaky.payload, { ...ctx(), attempt: 3 }), { attempts: 3 });
});

test("backoff doubles from the declared base and stops at the cap", () => {
  const policy = { ...DEFAULT_RETRY, backoffMs: 400, maxBackoffMs: 1000 };
  assert.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(policy, a)), [400, 800, 1000, 1000]);
  assert.equal(retryPolicy(checkTaskDefinition("flaky")).maxAttempts, 4);
  assert.equal(retryPolicy(checkTaskDefinition("echo")).maxAttempts, DEFAULT_RETRY.maxAttempts);
});

test("defineTask refuses a bad retry policy at once", () => {
  assert.throws(() => defineTask({ ...echoLike, retry: { maxAttempts: 0 } }), /maxAttempts/);
  assert.throws(() => defineTask({ ...echoLike, retry: { backoffMs: 5000, maxBackoffMs: 10 } }), /backoffMs/);
});

const echoLike = { name: "x", description: "x", example: {}, payload: z.strictObject({}), run: async () => null };
function checkTaskDefinition(name: string) {
  const definition = taskTypes.get(name);
  assert.ok(definition);
  return definition;
}
