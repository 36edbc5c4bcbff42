// Starts real Taskcast web nodes and workers in this process, against the real RabbitMQ and Redis,
// each stack with its own queue, channel and Redis prefix, and removes exactly those afterwards.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { io as ioClient, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../../lib/socket-events";
import { loadConfig, type Config } from "../../server/config";
import { createLogger, type Logger } from "../../server/logger";
import { startWebNode, type WebNode } from "../../server/web-node";
import { startWorkerNode, type WorkerNode } from "../../server/worker-node";
import { removeRunData } from "./cleanup";

export type TestSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface Stack {
  config: Config;
  /** The environment the stack's nodes were configured from, for worker processes started by a test. */
  env: Record<string, string>;
  nodes: WebNode[];
  workers: WorkerNode[];
  /** A plain Redis client for the test's own commands. */
  redis: Redis;
  /** `listen` attaches handlers before the connection opens, so no event sent on connection is missed. */
  connectSocket(node?: WebNode | string, options?: Partial<ManagerOptions & SocketOptions>, listen?: (socket: TestSocket) => void): Promise<TestSocket>;
  addNode(port?: number): Promise<WebNode>;
  addWorker(overrides?: Record<string, string>): Promise<WorkerNode>;
  close(): Promise<void>;
}

export async function startStack(options: { webNodes?: number; workers?: number; env?: Record<string, string>; log?: Logger } = {}): Promise<Stack> {
  const name = `test-${randomUUID().slice(0, 8)}`;
  const env = { ...process.env, PORT: "0", WORKER_METRICS_PORT: "0", TASK_QUEUE: name, BROADCAST_CHANNEL: name, KEY_PREFIX: name, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent", SHUTDOWN_GRACE_MS: "2000", ...options.env };
  const config = loadConfig(env);
  const log = options.log ?? createLogger("test", config.LOG_LEVEL);
  const nodes: WebNode[] = [];
  const workers: WorkerNode[] = [];
  const sockets: TestSocket[] = [];
  const redis = new Redis(config.REDIS_URL);
  redis.on("error", () => undefined); // tests that restart Redis expect this client to reconnect quietly

  for (let i = 0; i < (options.webNodes ?? 1); i++) nodes.push(await startWebNode(config, log));
  const addWorker = async (overrides: Record<string, string> = {}) => {
    const worker = await startWorkerNode(loadConfig({ ...env, ...overrides }), log);
    workers.push(worker);
    return worker;
  };
  for (let i = 0; i < (options.workers ?? 1); i++) await addWorker();

  return {
    config,
    env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    nodes,
    workers,
    redis,
    addWorker,
    async addNode(port = 0) {
      const node = await startWebNode(loadConfig({ ...env, PORT: String(port) }), log);
      nodes.push(node);
      return node;
    },
    async connectSocket(node = nodes[0], socketOptions = {}, listen) {
      const socket: TestSocket = ioClient(typeof node === "string" ? node : node.url, { transports: ["websocket"], forceNew: true, ...socketOptions });
      listen?.(socket);
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      return socket;
    },
    async close() {
      for (const s of sockets) s.disconnect();
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(nodes.map((n) => n.close()));
      await redis.quit();
      await removeRunData(config);
    },
  };
}

/** Resolves with the first value `probe` returns that is not undefined, checking every `everyMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ""}`);
}

/** Resolves when the socket has received an event matching `match`. */
export function nextEvent<E extends keyof ServerToClientEvents>(
  socket: TestSocket,
  event: E,
  match: (...args: Parameters<ServerToClientEvents[E]>) => boolean,
  timeoutMs = 15_000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener as never);
      reject(new Error(`Timed out waiting for ${String(event)}`));
    }, timeoutMs);
    const listener = (...args: Parameters<ServerToClientEvents[E]>) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      socket.off(event, listener as never);
      resolve(args[0]);
    };
    socket.on(event, listener as never);
  });
}

// oxlint-disable-next-line typescript/no-explicit-any -- tests read any JSON body
export async function api(node: WebNode, path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(node.url + path, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: res.status, body };
}

export const postJson = (node: WebNode, path: string, body: unknown) =>
  api(node, path, { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
