// Broadcast fan-out: many socket.io-client connections over two web nodes, broadcasts published on Redis at a
// fixed rate; delivery (exactly once) and publish-to-receive latency, for Taskcast and for a bare Socket.IO
// server with the Redis adapter doing the same fan-out. Also the web nodes' memory per 1,000 connections.
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { Redis } from "ioredis";
import { loadConfig } from "../server/config";
import { removeRunData } from "../test/helpers/cleanup";
import type { FanoutReport } from "./fanout-clients";
import { ROOT, rssMiB, startProcess, type Child } from "./lib/processes";

export interface FanoutRun {
  system: string;
  connections: number;
  broadcasts: number;
  expectedDeliveries: number;
  delivered: number;
  duplicates: number;
  missing: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Resident memory the web nodes gained per 1,000 connections, MiB. */
  rssPerThousandMiB: number;
}

class ClientProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<ClientProcess> {
    const child = fork(`${ROOT}/bench/fanout-clients.ts`, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    return new ClientProcess(child);
  }

  async ask<T>(command: object): Promise<T> {
    const reply = once(this.child, "message") as Promise<[T]>;
    this.child.send(command);
    return (await reply)[0];
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.send({ close: true });
    await exited;
  }
}

interface Servers {
  system: string;
  urls: string[];
  pids: number[];
  /** Publishes one broadcast with this text on Redis, the way an outside service does. */
  publish(redis: Redis, text: string): Promise<unknown>;
  stop(): Promise<void>;
}

async function taskcastServers(basePort: number): Promise<Servers> {
  const name = `bench-fanout-${randomUUID().slice(0, 8)}`;
  const env = { ...process.env, NODE_ENV: "production", LOG_LEVEL: "info", TASK_QUEUE: name, BROADCAST_CHANNEL: name, KEY_PREFIX: name, API_RATE: "0", HOST: "127.0.0.1" };
  const nodes: Child[] = [];
  for (const port of [basePort, basePort + 1]) nodes.push(await startProcess("server/web.ts", { ...env, PORT: String(port) }, (l) => l.includes("Taskcast dashboard")));
  return {
    system: "Taskcast",
    urls: [basePort, basePort + 1].map((p) => `http://127.0.0.1:${p}`),
    pids: nodes.map((n) => n.pid),
    publish: (redis, text) => redis.publish(name, text),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await removeRunData(loadConfig(env));
    },
  };
}

async function bareServers(basePort: number): Promise<Servers> {
  const channel = `bench-bare-${randomUUID().slice(0, 8)}`;
  const env = { ...process.env, BARE_CHANNEL: channel, BARE_KEY: channel };
  const nodes: Child[] = [];
  for (const port of [basePort, basePort + 1]) nodes.push(await startProcess("bench/bare-socketio-server.ts", { ...env, PORT: String(port) }, (l) => l.includes("bare ready")));
  return {
    system: "bare Socket.IO + Redis adapter",
    urls: [basePort, basePort + 1].map((p) => `http://127.0.0.1:${p}`),
    pids: nodes.map((n) => n.pid),
    publish: (redis, text) => redis.publish(channel, text),
    stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))),
  };
}

/** One run: `connections` spread over the two nodes (one client process per node), `rate` broadcasts a second for `seconds`. */
async function run(servers: Servers, connections: number, rate: number, seconds: number): Promise<FanoutRun> {
  const redis = new Redis(loadConfig(process.env).REDIS_URL);
  const clients = await Promise.all(servers.urls.map(() => ClientProcess.start()));
  try {
    const rssBefore = servers.pids.map(rssMiB);
    await Promise.all(clients.map((c, i) => c.ask({ connect: { url: servers.urls[i], count: Math.floor(connections / 2) + (i === 0 ? connections % 2 : 0) } })));
    await new Promise((r) => setTimeout(r, 2000)); // let the nodes settle after the connection burst
    const rssAfter = servers.pids.map(rssMiB);
    const total = rate * seconds;
    await Promise.all(clients.map((c) => c.ask({ prepare: total })));
    // Paced by the clock, not by timer drift: broadcast n goes out at start + n / rate.
    const start = performance.now();
    for (let n = 0; n < total; n++) {
      const due = start + (n * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      void servers.publish(redis, `bench:${n}:${Date.now()}`);
    }
    // Wait until every connection has everything, or a generous deadline passes.
    const deadline = Date.now() + 30_000;
    let reports: FanoutReport[] = [];
    for (;;) {
      reports = await Promise.all(clients.map((c) => c.ask<FanoutReport>({ report: { expected: total } })));
      if (reports.every((r) => r.missing === 0) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const all = (pick: (r: FanoutReport) => number) => reports.reduce((sum, r) => sum + pick(r), 0);
    const connected = all((r) => r.connections);
    const gained = rssAfter.reduce((s, v) => s + v, 0) - rssBefore.reduce((s, v) => s + v, 0);
    return {
      system: servers.system,
      connections: connected,
      broadcasts: total,
      expectedDeliveries: connected * total,
      delivered: all((r) => r.received),
      duplicates: all((r) => r.duplicates),
      missing: all((r) => r.missing),
      // Each client process saw half the connections: the overall percentiles lie between theirs; report the worse.
      p50Ms: Math.max(...reports.map((r) => r.p50Ms)),
      p99Ms: Math.max(...reports.map((r) => r.p99Ms)),
      maxMs: Math.max(...reports.map((r) => r.maxMs)),
      rssPerThousandMiB: (gained / connected) * 1000,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    redis.disconnect();
  }
}

/** Taskcast and the bare baseline, alternating, `runs` times each. */
export async function fanout(options: { connections: number; rate: number; seconds: number; runs: number; basePort: number }): Promise<FanoutRun[]> {
  const results: FanoutRun[] = [];
  for (let i = 0; i < options.runs; i++) {
    for (const start of process.env.BENCH_FANOUT_ONLY === "taskcast" ? [taskcastServers] : [taskcastServers, bareServers]) {
      const servers = await start(options.basePort);
      try {
        results.push(await run(servers, options.connections, options.rate, options.seconds));
      } finally {
        await servers.stop();
      }
    }
  }
  return results;
}
