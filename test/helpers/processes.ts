// Real worker processes and a private Redis server, for tests that kill, stop and restart them.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, type Stack } from "./stack";

const ROOT = new URL("../..", import.meta.url).pathname;

export interface ChildWorker {
  process: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  output(): string;
}

/**
 * Starts `server/worker.ts` as its own process with the stack's settings, and waits for its first heartbeat.
 * `compiled`: runs the production build, `dist/server/worker.js` (scripts/build-server.sh), with plain node.
 */
export async function spawnWorker(stack: Stack, overrides: Record<string, string> = {}, options: { compiled?: boolean } = {}): Promise<ChildWorker> {
  const args = options.compiled ? ["dist/server/worker.js"] : ["--import", "tsx", "server/worker.ts"];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...stack.env, LOG_LEVEL: "info", NODE_ENV: "production", ...overrides },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`worker exited early:\n${output}`);
      const beats = Object.values(await stack.redis.hgetall(`${stack.config.KEY_PREFIX}:workers`));
      return beats.some((raw) => (JSON.parse(raw) as { pid: number }).pid === child.pid) && /consuming tasks/.test(output) ? true : undefined;
    },
    "the worker process to start consuming",
    30_000,
  );
  return { process: child, exited, output: () => output };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A Redis server of the test's own, with an append-only file so a restart keeps its data. */
export class PrivateRedis {
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), "taskcast-redis-"));

  private constructor(
    readonly port: number,
    private readonly password: string | undefined,
  ) {}

  /** `password`: the server requires it (`--requirepass`), and `url` carries it. */
  static async start(options: { password?: string } = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), options.password);
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://${this.password ? `:${encodeURIComponent(this.password)}@` : ""}127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", this.dir];
    if (this.password) args.push("--requirepass", this.password);
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
      return /Ready to accept connections/.test(output) ? true : undefined;
    }, "the private Redis to start", 15_000);
  }

  /** Stops the server as an operator would (SIGTERM: it writes its data and exits). */
  async down(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  async remove(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ChildWebNode extends ChildWorker {
  url: string;
}

/**
 * Starts a web node (API and Socket.IO, no pages) as its own process with the stack's settings; with
 * `clockOffsetMs`, its Date.now() runs that far off this machine's, as on a machine whose clock is wrong.
 */
export async function spawnWebNode(stack: Stack, overrides: Record<string, string> = {}, clockOffsetMs = 0): Promise<ChildWebNode> {
  const skew = clockOffsetMs === 0 ? [] : ["--import", "./test/helpers/skewed-clock.ts"];
  const child = spawn(process.execPath, ["--import", "tsx", ...skew, "test/helpers/api-node.ts"], {
    cwd: ROOT,
    env: { ...stack.env, PORT: "0", LOG_LEVEL: "info", NODE_ENV: "production", TEST_CLOCK_OFFSET_MS: String(clockOffsetMs), ...overrides },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`web node exited early:\n${output}`);
      return /READY (\S+)/.exec(output)?.[1];
    },
    "the web node process to listen",
    30_000,
  );
  return { process: child, exited, output: () => output, url };
}
