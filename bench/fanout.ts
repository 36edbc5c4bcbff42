// Broadcast fan-out: many socket.io-client connections over two web nodes, broadcasts published on Redis at a
// fixed rate; delivery (exactly once), publish-to-receive latency and the web nodes' CPU per delivery, for
// Taskcast and for a bare Socket.IO server with the Redis adapter doing the same fan-out.
//
// Method: both systems' two nodes stay up for the whole benchmark; each round connects every client to one
// system, publishes, waits until everything arrived, and disconnects. For each rate: a warm-up round of each
// system (not counted), then rounds alternating which system goes first. Each round pairs a Taskcast run with
// the bare run next to it; the figure is the median over rounds of the per-round ratio of their p99s, so the
// machine's load, which drifts over minutes, weighs on both sides of each ratio alike.
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { Redis } from "ioredis";
import { loadConfig } from "../server/config";
import { removeRunData } from "../test/helpers/cleanup";
import { BUCKET_MS, type FanoutReport } from "./fanout-clients";
import { cpuSeconds, ROOT, rssMiB, startProcess, type Child } from "./lib/processes";
import { median, round as roundTo } from "./lib/stats";

export const TASKCAST = "Taskcast";
export const BARE = "bare Socket.IO + Redis adapter";

export interface FanoutOptions {
  connections: number;
  /** Broadcasts a second; each rate gets its own warm-up and rounds. */
  rates: number[];
  seconds: number;
  /** Counted rounds per rate (each one run of each system). */
  rounds: number;
  warmup: boolean;
  /** Processes the client connections are spread over (each holds connections to both nodes). */
  clientProcesses: number;
  basePort: number;
}

export interface FanoutRun {
  system: string;
  rate: number;
  /** 0 is the warm-up round when there is one. */
  round: number;
  warmup: boolean;
  connections: number;
  broadcasts: number;
  expectedDeliveries: number;
  delivered: number;
  duplicates: number;
  missing: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU seconds of the two web nodes from the first publish until the last delivery. */
  serverCpuSeconds: number;
  /** Web nodes' CPU milliseconds per 1,000 deliveries. */
  cpuMsPerThousand: number;
  /** Cores the client processes used on average over the same time: near their count means they were the bottleneck. */
  clientCores: number;
  /** Per second of the run, the slowest delivery of the broadcasts published in it (ms). */
  slowestPerSecondMs: number[];
  /** Resident memory the web nodes gained per 1,000 connections while the clients connected, MiB (first round only). */
  rssPerThousandMiB?: number;
}

class ClientProcess {
  private constructor(private readonly child: ChildProcess) {}

  static start(): ClientProcess {
    const child = fork(`${ROOT}/bench/fanout-clients.ts`, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    return new ClientProcess(child);
  }

  get pid(): number {
    return this.child.pid!;
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
    system: TASKCAST,
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
    system: BARE,
    urls: [basePort, basePort + 1].map((p) => `http://127.0.0.1:${p}`),
    pids: nodes.map((n) => n.pid),
    publish: (redis, text) => redis.publish(channel, text),
    stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))),
  };
}

/** Wall-clock milliseconds with sub-millisecond precision, as the client processes read it. */
const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The p-th percentile (nearest rank) of merged 0.1 ms histograms, in ms. */
function histogramPercentile(histogram: Map<number, number>, total: number, p: number): number {
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const bucket of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(bucket)!;
    if (seen >= rank) return (bucket + 1) * BUCKET_MS; // the bucket's upper edge
  }
  return Number.NaN;
}

/** Splits `connections` over the client processes, each taking a share of both nodes. */
function targetsOf(urls: string[], connections: number, processes: number): Array<Array<{ url: string; count: number }>> {
  const plan = Array.from({ length: processes }, () => urls.map((url) => ({ url, count: 0 })));
  for (let i = 0; i < connections; i++) plan[i % processes][Math.floor(i / processes) % urls.length].count++;
  return plan;
}

/** One round of one system: connect every client, publish `rate` a second for `seconds`, wait for every delivery, disconnect. */
async function run(servers: Servers, clients: ClientProcess[], redis: Redis, options: FanoutOptions & { rate: number; round: number; warmup: boolean; measureRss: boolean }): Promise<FanoutRun> {
  const { rate, seconds, connections } = options;
  const rssBefore = options.measureRss ? servers.pids.map(rssMiB) : [];
  const plan = targetsOf(servers.urls, connections, clients.length);
  await Promise.all(clients.map((c, i) => c.ask({ connect: { targets: plan[i] } })));
  try {
    await sleep(2000); // let the nodes settle after the connection burst
    const gained = options.measureRss ? servers.pids.map(rssMiB).reduce((s, v) => s + v, 0) - rssBefore.reduce((s, v) => s + v, 0) : Number.NaN;
    const total = rate * seconds;
    const tag = randomUUID().slice(0, 8);
    await Promise.all(clients.map((c) => c.ask({ prepare: { round: tag, total } })));
    const cpu = () => servers.pids.reduce((s, pid) => s + cpuSeconds(pid), 0);
    const clientCpu = () => clients.reduce((s, c) => s + cpuSeconds(c.pid), 0);
    const cpuBefore = cpu();
    const clientCpuBefore = clientCpu();
    // Paced by the clock, not by timer drift: broadcast n goes out at start + n / rate.
    const start = performance.now();
    for (let n = 0; n < total; n++) {
      const wait = start + (n * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      void servers.publish(redis, `bench:${tag}:${n}:${nowMs()}`);
    }
    // Wait until every connection has everything, or a generous deadline passes.
    const deadline = Date.now() + 30_000;
    let reports: FanoutReport[] = [];
    for (;;) {
      reports = await Promise.all(clients.map((c) => c.ask<FanoutReport>({ report: { expected: total } })));
      if (reports.every((r) => r.missing === 0) || Date.now() > deadline) break;
      await sleep(100);
    }
    const elapsed = (performance.now() - start) / 1000;
    const serverCpuSeconds = cpu() - cpuBefore;
    const clientCores = (clientCpu() - clientCpuBefore) / elapsed;
    const all = (pick: (r: FanoutReport) => number) => reports.reduce((sum, r) => sum + pick(r), 0);
    const histogram = new Map<number, number>();
    for (const r of reports) for (const [bucket, count] of r.histogram) histogram.set(bucket, (histogram.get(bucket) ?? 0) + count);
    const samples = [...histogram.values()].reduce((s, v) => s + v, 0);
    const connected = all((r) => r.connections);
    const delivered = all((r) => r.received);
    return {
      system: servers.system,
      rate,
      round: options.round,
      warmup: options.warmup,
      connections: connected,
      broadcasts: total,
      expectedDeliveries: connected * total,
      delivered,
      duplicates: all((r) => r.duplicates),
      missing: all((r) => r.missing),
      p50Ms: histogramPercentile(histogram, samples, 50),
      p99Ms: histogramPercentile(histogram, samples, 99),
      maxMs: histogramPercentile(histogram, samples, 100),
      serverCpuSeconds,
      cpuMsPerThousand: (serverCpuSeconds * 1000) / (delivered / 1000),
      clientCores,
      slowestPerSecondMs: Array.from({ length: seconds }, (_, s) => Math.max(...reports.flatMap((r) => r.slowestMs.slice(s * rate, (s + 1) * rate)))),
      ...(options.measureRss ? { rssPerThousandMiB: (gained / connected) * 1000 } : {}),
    };
  } finally {
    await Promise.all(clients.map((c) => c.ask({ disconnect: true })));
    await sleep(500); // let the nodes see the disconnections before the next round
  }
}

const log = (message: string) => process.stdout.write(`[bench] ${message}\n`);

/**
 * Taskcast and the bare baseline at each rate: a warm-up round, then `rounds` rounds, each one run of each
 * system, alternating which goes first. BENCH_FANOUT_ONLY=taskcast runs Taskcast alone (for profiling).
 */
export async function fanout(options: FanoutOptions): Promise<FanoutRun[]> {
  const taskcastOnly = process.env.BENCH_FANOUT_ONLY === "taskcast";
  const systems = [await taskcastServers(options.basePort), ...(taskcastOnly ? [] : [await bareServers(options.basePort + 2)])];
  const clients = Array.from({ length: options.clientProcesses }, () => ClientProcess.start());
  const redis = new Redis(loadConfig(process.env).REDIS_URL);
  const results: FanoutRun[] = [];
  const measured = new Set<string>();
  try {
    for (const rate of options.rates) {
      const first = options.warmup ? 0 : 1;
      for (let round = first; round <= options.rounds; round++) {
        const warmup = round === 0;
        log(`fan-out: ${rate} broadcasts/s, ${warmup ? "warm-up round" : `round ${round} of ${options.rounds}`}`);
        const order = round % 2 === 1 ? systems : [...systems].reverse();
        for (const servers of order) {
          const measureRss = !measured.has(servers.system);
          measured.add(servers.system);
          results.push(await run(servers, clients, redis, { ...options, rate, round, warmup, measureRss }));
        }
      }
    }
    return results;
  } finally {
    redis.disconnect();
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(systems.map((s) => s.stop()));
  }
}

export interface FanoutSummary {
  /** Every Taskcast run (warm-ups included) delivered each broadcast to each connection exactly once. */
  exactlyOnce: boolean;
  /** Per rate: the per-round p99 ratios (Taskcast / bare) and their median. */
  ratios: Array<{ rate: number; perRound: number[]; median: number }>;
  tables: Array<[string, Array<Array<string | number>>]>;
}

const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

/** The fan-out tables: per rate the ratio of p99s round by round, and each system's medians with CPU per 1,000 deliveries. */
export function summarizeFanout(runs: FanoutRun[], options: FanoutOptions): FanoutSummary {
  const taskcastRuns = runs.filter((r) => r.system === TASKCAST);
  const exactlyOnce = taskcastRuns.length > 0 && taskcastRuns.every((r) => r.missing === 0 && r.duplicates === 0 && r.delivered === r.expectedDeliveries);
  const counted = runs.filter((r) => !r.warmup);
  const ratios = options.rates.map((rate) => {
    const perRound: number[] = [];
    for (const round of new Set(counted.filter((r) => r.rate === rate).map((r) => r.round))) {
      const tc = counted.find((r) => r.rate === rate && r.round === round && r.system === TASKCAST);
      const bare = counted.find((r) => r.rate === rate && r.round === round && r.system === BARE);
      if (tc && bare) perRound.push(tc.p99Ms / bare.p99Ms);
    }
    return { rate, perRound, median: median(perRound) };
  });
  const rows: Array<Array<string | number>> = [
    ["rate/s", "system", "delivered / expected", "duplicates", "p50 ms", "p99 ms", "p99 × bare (median of rounds)", "web CPU ms per 1,000 deliveries", "client cores", "target"],
  ];
  for (const { rate, median: ratio } of ratios) {
    for (const system of [TASKCAST, BARE]) {
      const mine = counted.filter((r) => r.rate === rate && r.system === system);
      if (mine.length === 0) continue;
      const all = runs.filter((r) => r.rate === rate && r.system === system);
      const target = system === TASKCAST ? `${verdict(exactlyOnce)} (100 %, once), ${verdict(ratio <= 1.2)} (p99 ≤ 1.2× bare)` : "";
      rows.push([
        rate,
        system,
        `${all.reduce((n, r) => n + r.delivered, 0)} / ${all.reduce((n, r) => n + r.expectedDeliveries, 0)}`,
        all.reduce((n, r) => n + r.duplicates, 0),
        roundTo(median(mine.map((r) => r.p50Ms))),
        roundTo(median(mine.map((r) => r.p99Ms))),
        system === TASKCAST ? roundTo(ratio, 2) : 1,
        roundTo(median(mine.map((r) => r.cpuMsPerThousand)), 1),
        roundTo(median(mine.map((r) => r.clientCores)), 2),
        target,
      ]);
    }
  }
  const roundRows: Array<Array<string | number>> = [["rate/s", "round", "first", "Taskcast p99 ms", "bare p99 ms", "ratio", "Taskcast CPU ms/1,000", "bare CPU ms/1,000"]];
  for (const { rate } of ratios) {
    for (const round of new Set(runs.filter((r) => r.rate === rate).map((r) => r.round))) {
      const tc = runs.find((r) => r.rate === rate && r.round === round && r.system === TASKCAST);
      const bare = runs.find((r) => r.rate === rate && r.round === round && r.system === BARE);
      const firstRun = runs.find((r) => r.rate === rate && r.round === round);
      roundRows.push([
        rate,
        round === 0 ? "warm-up" : round,
        firstRun?.system === TASKCAST ? "Taskcast" : "bare",
        roundTo(tc?.p99Ms ?? Number.NaN),
        roundTo(bare?.p99Ms ?? Number.NaN),
        tc && bare ? roundTo(tc.p99Ms / bare.p99Ms, 2) : "",
        roundTo(tc?.cpuMsPerThousand ?? Number.NaN),
        roundTo(bare?.cpuMsPerThousand ?? Number.NaN),
      ]);
    }
  }
  const rss = (system: string) => runs.find((r) => r.system === system && r.rssPerThousandMiB !== undefined)?.rssPerThousandMiB ?? Number.NaN;
  const memoryRows = [
    ["system", "web RSS per 1,000 conns (MiB)"],
    [TASKCAST, roundTo(rss(TASKCAST))],
    [BARE, roundTo(rss(BARE))],
  ];
  const where = `${options.connections} connections over two web nodes from ${options.clientProcesses} client processes, ${options.seconds} s per run`;
  const rounds = `median of ${options.rounds} alternated rounds${options.warmup ? " after a warm-up" : ""}`;
  return {
    exactlyOnce,
    ratios,
    tables: [
      [`Broadcast fan-out (${where}; ${rounds})`, rows],
      ["Broadcast fan-out, round by round (p99 ratio = Taskcast / bare of the same round)", roundRows],
      ["Broadcast fan-out, web node memory", memoryRows],
    ],
  };
}

/** Web node RSS per 1,000 connections, from Taskcast's first round. */
export const taskcastRssPerThousand = (runs: FanoutRun[]) => runs.find((r) => r.system === TASKCAST && r.rssPerThousandMiB !== undefined)?.rssPerThousandMiB ?? Number.NaN;
