// The production build of the worker (scripts/build-server.sh: dist/server/worker.js, run with plain node, as
// `npm start` runs it) starts, consumes a task and stops cleanly, so the build cannot rot unnoticed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { spawnWorker } from "../helpers/processes";
import { startStack, type Stack } from "../helpers/stack";
import { submit, waitForStatus } from "../helpers/tasks";

const run = promisify(execFile);
const ROOT = new URL("../..", import.meta.url).pathname;

describe("the compiled worker", () => {
  let stack: Stack;
  before(async () => {
    await run("bash", ["scripts/build-server.sh"], { cwd: ROOT });
    stack = await startStack({ workers: 0 });
  });
  after(() => stack.close());

  test("dist/server/worker.js, run with node, consumes a task and exits 0 on SIGTERM", async () => {
    const worker = await spawnWorker(stack, {}, { compiled: true });
    const id = await submit(stack, { type: "echo", payload: { built: true } });
    const done = await waitForStatus(stack, id, ["succeeded"], 20_000);
    assert.deepEqual(done.result, { built: true });
    assert.match(done.worker ?? "", new RegExp(`:${worker.process.pid}:`), "the compiled worker ran it");
    worker.process.kill("SIGTERM");
    assert.equal(await worker.exited, 0, worker.output());
  });
});
