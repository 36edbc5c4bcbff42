// Starts the end-to-end run's servers (two open web nodes, a third that requires sign-in, and a worker) and returns
// their teardown, which stops them and then removes the run's queue and Redis keys (stopping first, so no worker
// declares the queue again).
import { hashSync } from "bcryptjs";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { loadConfig } from "../server/config";
import { removeRunData } from "../test/helpers/cleanup";
import { E2E_PORTS, E2E_SECURE_PORT, E2E_USERS, e2eEnv } from "./env";

const START_TIMEOUT_MS = 60_000;

export default async function globalSetup(): Promise<() => Promise<void>> {
  const run = process.env.TASKCAST_E2E_RUN!;
  const env = e2eEnv(run);
  const children: ChildProcess[] = [];
  const start = (script: string, extra: Record<string, string>, ready: (line: string) => boolean) => {
    const child = spawn("node_modules/.bin/tsx", [script], { env: { ...env, ...extra } as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} did not become ready within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        if (process.env.E2E_SERVER_LOGS) process.stdout.write(chunk);
        if (chunk.split("\n").some(ready)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
    });
  };
  const stop = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await once(child, "exit");
        clearTimeout(timer);
      }),
    );
    await cleanUp(run);
  };
  try {
    // Cost 10: the lowest a web node accepts, the fastest to check.
    const users = Object.values(E2E_USERS)
      .map((u) => `${u.name}:${u.role}:${hashSync(u.password, 10)}`)
      .join(",");
    // Servers log at info here only so that readiness can be read from their output.
    await Promise.all([
      ...E2E_PORTS.map((port) => start("server/web.ts", { PORT: String(port), LOG_LEVEL: "info" }, (l) => l.includes("Taskcast dashboard"))),
      // The security tests sign in more often than a person would.
      start("server/web.ts", { PORT: String(E2E_SECURE_PORT), LOG_LEVEL: "info", TASKCAST_USERS: users, LOGIN_ATTEMPTS_PER_MINUTE: "60" }, (l) => l.includes("Taskcast dashboard")),
      start("server/worker.ts", { LOG_LEVEL: "info" }, (l) => l.includes("worker ready")),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}

async function cleanUp(run: string): Promise<void> {
  await removeRunData(loadConfig(e2eEnv(run)));
}
