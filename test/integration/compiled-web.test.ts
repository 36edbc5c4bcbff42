// The production build of the web node (scripts/build-server.sh: dist/server/web.js, run with plain node) checks
// passwords on its worker thread, dist/server/password-worker.js. It needs the Next.js build, so on a fresh clone
// it is skipped among the integration tests and run by scripts/test.sh after \`next build\`.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { authEnv, PASSWORDS, rawRequest } from "../helpers/auth";
import { eventually, startStack, type Stack } from "../helpers/stack";

const ROOT = new URL("../..", import.meta.url).pathname;

describe("the compiled web node", () => {
  let stack: Stack;
  before(async () => {
    await promisify(execFile)("bash", ["scripts/build-server.sh"], { cwd: ROOT });
    stack = await startStack({ webNodes: 0, workers: 0 });
  });
  after(() => stack.close());

  test("dist/server/web.js, run with node, checks passwords on its worker thread (dist/server/password-worker.js)", async (t) => {
    if (!existsSync(join(ROOT, ".next", "BUILD_ID"))) {
      t.skip("no Next.js build (.next/): run `npm run build` first");
      return;
    }
    const child = spawn(process.execPath, ["dist/server/web.js"], { cwd: ROOT, env: { ...stack.env, ...authEnv(), PORT: "0", LOG_LEVEL: "info", NODE_ENV: "production" }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const url = await eventually(async () => {
        if (child.exitCode !== null) throw new Error(`web.js exited early:\n${output}`);
        return /"url":"(http:[^"]+)","dev":false/.exec(output)?.[1];
      }, "the compiled web node to listen", 60_000);
      const ok = await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: "alice", password: PASSWORDS.alice } });
      assert.equal(ok.status, 200, `${ok.text}\n${output}`);
      assert.equal((await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: "alice", password: "wrong" } })).status, 401);
    } finally {
      child.kill("SIGTERM");
      assert.equal(await exited, 0, output);
    }
  });
});
