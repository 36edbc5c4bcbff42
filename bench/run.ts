// `npm run bench`: every benchmark in one run, against the real RabbitMQ and Redis, with the baselines measured
// side by side; medians of several runs, ratios taken within this run. Writes bench/results/bench.json and
// bench/results/bench.md and prints the tables. `--smoke` runs a tiny version (seconds) to keep the harness working.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { DashboardTab, type DashboardFigures } from "./dashboard";
import { fanout, summarizeFanout, taskcastRssPerThousand, type FanoutOptions } from "./fanout";
import { formatTable, markdownTable, median, round } from "./lib/stats";
import { Redis } from "ioredis";
import { loadConfig } from "../server/config";
import { brokerPid, cpuDuring, ROOT, rssMiB } from "./lib/processes";
import { submissionLadder, type SubmissionResult } from "./submission";
import { amqplibWithMinimalRecord, amqplibWithRecords, bareAmqplib, bareSystem, bullmq, RECORDS_FLOOR, startTaskcast, taskcast, type ThroughputRun } from "./throughput";

const smoke = process.argv.includes("--smoke");
const size = smoke
  ? { tasks: 300, runs: 1, concurrencies: [1, 16], ladder: [50, 100], stepSeconds: 1 }
  : { tasks: 20_000, runs: 3, concurrencies: [1, 16], ladder: [100, 250, 500, 1000, 2000, 4000], stepSeconds: 5 };
// For exploring: BENCH_TASKS and BENCH_RUNS override the sizes.
if (process.env.BENCH_TASKS) size.tasks = Number(process.env.BENCH_TASKS);
if (process.env.BENCH_RUNS) size.runs = Number(process.env.BENCH_RUNS);
const BASE_PORT = Number(process.env.BENCH_PORT ?? 3400);
// Fan-out: both rates the issue names, 5 alternated rounds after a warm-up; the clients spread over processes
// (BENCH_FANOUT_CLIENTS, see docs/benchmarks.md for 2 against 4). BENCH_FANOUT_ROUNDS overrides the rounds.
const fanoutSize: Omit<FanoutOptions, "basePort"> = smoke
  ? { connections: 40, rates: [20, 100], seconds: 1, rounds: 1, warmup: false, clientProcesses: 2 }
  : { connections: 1000, rates: [20, 100], seconds: 10, rounds: 5, warmup: true, clientProcesses: 2 };
if (process.env.BENCH_FANOUT_CLIENTS) fanoutSize.clientProcesses = Number(process.env.BENCH_FANOUT_CLIENTS);
if (process.env.BENCH_FANOUT_ROUNDS) fanoutSize.rounds = Number(process.env.BENCH_FANOUT_ROUNDS);
const outDir = process.env.BENCH_OUT ?? `${ROOT}/bench/results`;

const log = (message: string) => process.stdout.write(`[bench] ${message}\n`);

interface ThroughputSummary {
  concurrency: number;
  perSecond: Record<string, number>;
  runs: ThroughputRun[];
}

/**
 * The worker's resident memory, MiB: just started; at rest (REST_MS after its last run, once V8 has given back
 * what a burst took: it does so after several idle seconds); right after a run (the most seen); at its peak.
 */
interface WorkerRss {
  freshMiB: number;
  atRestMiB: number;
  afterRunMiB: number;
  peakMiB: number;
}
const REST_MS = 15_000;
/** The queue shapes drained with a backlog: no priorities, 3 levels, Taskcast's default 10 (x-max-priority). */
const DRAIN_PRIORITIES = [0, 2, 9];
const isDrain = (system: string) => system.startsWith("bare amqplib draining");
/** Tasks per system in the throughput warm-up round (not recorded). */
const WARMUP_TASKS = 5000;

async function throughputAll(): Promise<{ summaries: ThroughputSummary[]; dashboard: DashboardFigures | null; worker: WorkerRss }> {
  const summaries: ThroughputSummary[] = [];
  let dashboard: DashboardFigures | null = null;
  const workerRss: WorkerRss = { freshMiB: 0, atRestMiB: 0, afterRunMiB: 0, peakMiB: 0 };
  for (const concurrency of size.concurrencies) {
    const runs: ThroughputRun[] = [];
    const stack = await startTaskcast(concurrency, BASE_PORT);
    // The same with TASK_MAX_PRIORITY=0: a work queue without priorities, which costs RabbitMQ less per message.
    const plain = await startTaskcast(concurrency, BASE_PORT + 20, { TASK_MAX_PRIORITY: "0" }, "no priorities");
    // Summary tracking (opt-in per type, never the default): echo's successes are counted, not recorded.
    const counted = await startTaskcast(concurrency, BASE_PORT + 40, { TASK_TRACK_SUMMARY: "echo" }, "summary tracking");
    workerRss.freshMiB = Math.max(workerRss.freshMiB, rssMiB(stack.worker.pid));
    // A real chromium tab watches one Taskcast run at the highest concurrency, a run of its own that is not counted:
    // on 2 cores its rendering competes with the brokers for CPU, which no baseline's run bears (the watched run,
    // counted until December 2, ran at about half the rate of the others). Every Taskcast run has a Socket.IO
    // client receiving the task events, as an open dashboard does (see taskcast()).
    let watch = concurrency === Math.max(...size.concurrencies) ? await DashboardTab.open(stack.webUrl) : null;
    try {
      const pids = { RabbitMQ: brokerPid(), Redis: await redisPid() };
      const taskcastPids = { ...pids, "web node": stack.web.pid, worker: stack.worker.pid };
      const measured = async (which: Record<string, number | undefined>, work: () => Promise<ThroughputRun>) => {
        const { result, cpu } = await cpuDuring(which, work);
        return { ...result, cpu };
      };
      /** One run of every system, alternated; `tasks` per run, recorded in `into`. */
      const runEach = async (tasks: number, into: ThroughputRun[]) => {
        into.push(await measured(pids, () => bareAmqplib(tasks, concurrency)));
        // Taskcast's classic work queue is a priority queue (x-max-priority 9): what that alone costs RabbitMQ.
        into.push(await measured(pids, () => bareAmqplib(tasks, concurrency, { maxPriority: 9 })));
        into.push(await measured(pids, () => amqplibWithRecords(tasks, concurrency)));
        // The least any per-task record costs: what no design with one can beat here, priorities or not.
        into.push(await measured(pids, () => amqplibWithMinimalRecord(tasks, concurrency, { maxPriority: 9 })));
        into.push(await measured(pids, () => amqplibWithMinimalRecord(tasks, concurrency)));
        into.push(await measured(pids, () => bullmq(tasks, concurrency)));
        // RabbitMQ alone draining a backlog, as in every Taskcast run (its worker is slower than the publisher): what
        // the queue's priority levels cost once messages wait. Taskcast's default has 10 (x-max-priority 9).
        for (const maxPriority of DRAIN_PRIORITIES) into.push(await measured(pids, () => bareAmqplib(tasks, concurrency, { maxPriority, backlog: true })));
        into.push(await measured(taskcastPids, () => taskcast(stack, tasks, "amqp")));
        into.push(await measured({ ...pids, "web node": plain.web.pid, worker: plain.worker.pid }, () => taskcast(plain, tasks, "amqp")));
        into.push(await measured({ ...pids, "web node": counted.web.pid, worker: counted.worker.pid }, () => taskcast(counted, tasks, "amqp")));
        into.push(await measured(taskcastPids, () => taskcast(stack, tasks, "batch")));
        into.push(await measured(taskcastPids, () => taskcast(stack, tasks, "http")));
      };
      // A warm-up round first, not recorded (as the fan-out has): without one, most systems' first run was their
      // slowest (at 02:43 on December 2, bare amqplib at concurrency 1 ran 2,116 tasks a second, then 2,747 and
      // 2,655).
      if (!smoke) {
        log(`throughput: concurrency ${concurrency}, warm-up round (${WARMUP_TASKS} tasks each)`);
        await runEach(WARMUP_TASKS, []);
      }
      if (watch) {
        log(`throughput: concurrency ${concurrency}, a Taskcast run watched by a dashboard tab (not counted)`);
        await watch.start();
        await taskcast(stack, size.tasks, "amqp");
        dashboard = await watch.figures();
        await watch.close();
        watch = null;
      }
      for (let i = 0; i < size.runs; i++) {
        log(`throughput: concurrency ${concurrency}, run ${i + 1} of ${size.runs}`);
        await runEach(size.tasks, runs);
        workerRss.afterRunMiB = Math.max(workerRss.afterRunMiB, ...runs.map((r) => r.workerRssMiB?.atRest ?? 0));
        workerRss.peakMiB = Math.max(workerRss.peakMiB, ...runs.map((r) => r.workerRssMiB?.peak ?? 0));
      }
      if (!smoke) await new Promise((resolve) => setTimeout(resolve, REST_MS));
      workerRss.atRestMiB = Math.max(workerRss.atRestMiB, rssMiB(stack.worker.pid));
    } finally {
      await watch?.close();
      await stack.stop();
      await plain.stop();
      await counted.stop();
    }
    const systems = [...new Set(runs.map((r) => r.system))];
    summaries.push({ concurrency, runs, perSecond: Object.fromEntries(systems.map((s) => [s, median(runs.filter((r) => r.system === s).map((r) => r.perSecond))])) });
  }
  return { summaries, dashboard, worker: workerRss };
}

/** The local Redis server's pid (from INFO), to account for its CPU time. */
async function redisPid(): Promise<number | undefined> {
  const redis = new Redis(loadConfig(process.env).REDIS_URL);
  try {
    const pid = Number(/process_id:(\d+)/.exec(await redis.info("server"))?.[1]);
    return Number.isFinite(pid) ? pid : undefined;
  } finally {
    redis.disconnect();
  }
}

async function submissionAll(): Promise<SubmissionResult[]> {
  const stack = await startTaskcast(16, BASE_PORT);
  try {
    const results: SubmissionResult[] = [];
    for (let i = 0; i < size.runs; i++) {
      log(`submission latency: run ${i + 1} of ${size.runs}`);
      results.push(await submissionLadder(stack.webUrl, size.ladder, size.stepSeconds));
    }
    return results;
  } finally {
    await stack.stop();
  }
}

const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

/**
 * The throughput targets: over AMQP at least BullMQ's rate (and at concurrency 16 at least 0.7× bare amqplib's);
 * the batch endpoint at least 0.8× the AMQP path. Single POSTs are reported without a target.
 */
function throughputTarget(system: string, concurrency: number, rate: number, base: { bare: number; bull: number; viaAmqp: number }): string {
  if (system.startsWith("Taskcast (AMQP publish")) {
    const vsBull = `${verdict(rate >= base.bull)} (≥1.0× BullMQ)`;
    const verdicts = concurrency >= 16 ? `${vsBull}, ${verdict(rate >= 0.7 * base.bare)} (≥0.7× bare)` : vsBull;
    // The targets are the default tracking's: an opt-in mode's row shows where it stands, and meets nothing.
    return system.includes("summary tracking") ? `opt-in, not the default: ${verdicts}` : verdicts;
  }
  if (system === "Taskcast (HTTP batch)") return `${verdict(rate >= 0.8 * base.viaAmqp)} (≥0.8× AMQP path)`;
  return "";
}

async function main(): Promise<void> {
  const started = Date.now();
  log(`${smoke ? "smoke run" : "full run"} on ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB`);
  const throughput = await throughputAll();
  const submission = await submissionAll();
  log(`fan-out: ${fanoutSize.connections} connections, ${fanoutSize.rates.join(" and ")} broadcasts a second for ${fanoutSize.seconds} s`);
  const fan = await fanout({ ...fanoutSize, basePort: BASE_PORT });

  // 1. Throughput table with ratios.
  const throughputRows: Array<Array<string | number>> = [["concurrency", "system", "tasks/s (median)", "× bare amqplib", "× BullMQ", "× record floor", "target"]];
  for (const s of throughput.summaries) {
    const bare = s.perSecond["bare amqplib"];
    const bull = s.perSecond.BullMQ;
    const floor = s.perSecond[RECORDS_FLOOR];
    const viaAmqp = s.perSecond["Taskcast (AMQP publish)"];
    for (const [system, rate] of Object.entries(s.perSecond)) {
      if (isDrain(system)) continue;
      throughputRows.push([s.concurrency, system, Math.round(rate), round(rate / bare, 2), round(rate / bull, 2), round(rate / floor, 2), throughputTarget(system, s.concurrency, rate, { bare, bull, viaAmqp })]);
    }
  }
  // 1b. Draining a backlog: what each queue shape costs RabbitMQ once messages wait in it.
  const drainRows: Array<Array<string | number>> = [["concurrency", "queue", "drained/s (median)", "× no priorities", "RabbitMQ ms/message", "RabbitMQ CPU × no priorities"]];
  for (const s of throughput.summaries) {
    const rabbitPerMessage = (system: string) => median(s.runs.filter((r) => r.system === system && r.cpu).map((r) => ((r.cpu?.RabbitMQ ?? 0) * 1000) / r.tasks));
    const plain = bareSystem({ backlog: true });
    for (const maxPriority of DRAIN_PRIORITIES) {
      const system = bareSystem({ maxPriority, backlog: true });
      const rate = s.perSecond[system];
      const rabbit = rabbitPerMessage(system);
      drainRows.push([s.concurrency, maxPriority ? `${maxPriority + 1} priority levels (x-max-priority ${maxPriority})` : "no priorities", Math.round(rate), round(rate / s.perSecond[plain], 2), round(rabbit, 3), round(rabbit / rabbitPerMessage(plain), 2)]);
    }
  }
  // 2. Submission latency: medians over runs, per rate.
  const rates = [...new Set(submission.flatMap((r) => r.steps.map((s) => s.rate)))];
  const submissionRows: Array<Array<string | number>> = [["rate (req/s)", "achieved (req/s)", "p50 ms", "p99 ms", "non-202", "runs"]];
  for (const rate of rates) {
    const steps = submission.flatMap((r) => r.steps.filter((s) => s.rate === rate));
    submissionRows.push([rate, Math.round(median(steps.map((s) => s.achieved))), round(median(steps.map((s) => s.p50Ms))), round(median(steps.map((s) => s.p99Ms))), steps.reduce((n, s) => n + s.non2xx + s.errors, 0), steps.length]);
  }
  const highestHeld = median(submission.map((r) => r.highestRateHeld));
  // Where the CPU goes: milliseconds of CPU per task in each process, medians over the runs.
  const processes = ["RabbitMQ", "Redis", "web node", "worker", "bench client"];
  const cpuRows: Array<Array<string | number>> = [["concurrency", "system", ...processes.map((p) => `${p} ms/task`), "total ms/task", "target"]];
  for (const s of throughput.summaries) {
    for (const system of Object.keys(s.perSecond)) {
      if (isDrain(system)) continue;
      const runs = s.runs.filter((r) => r.system === system && r.cpu);
      const per = (name: string) => median(runs.map((r) => ((r.cpu?.[name] ?? 0) * 1000) / r.tasks));
      const cells = processes.map(per);
      const total = cells.reduce((a, b) => a + b, 0);
      const target = system.startsWith("Taskcast (AMQP publish") && s.concurrency === 16 ? `${system.includes("summary tracking") ? "opt-in, not the default: " : ""}${verdict(total <= 0.35)} (≤0.35 ms)` : "";
      cpuRows.push([s.concurrency, system, ...cells.map((c) => round(c, 3)), round(total, 3), target]);
    }
  }
  // 3. Fan-out: per rate, the median of the per-round p99 ratios; CPU per 1,000 deliveries (bench/fanout.ts).
  const fanSummary = summarizeFanout(fan, { ...fanoutSize, basePort: BASE_PORT });
  const webRssPerThousand = taskcastRssPerThousand(fan);
  // 4 and 5. Memory and the dashboard tab.
  const memoryRows = [
    ["process", "MiB", "target"],
    ["worker RSS just started", round(throughput.worker.freshMiB), ""],
    [`worker RSS at rest (${REST_MS / 1000} s after its last run)`, round(throughput.worker.atRestMiB), `${verdict(throughput.worker.atRestMiB <= 90)} (≤90 MiB)`],
    [`worker RSS right after a ${size.tasks}-task run (most seen)`, round(throughput.worker.afterRunMiB), ""],
    ["worker RSS peak under load", round(throughput.worker.peakMiB), ""],
    ["web node RSS per 1,000 connections", round(webRssPerThousand), ""],
  ];
  const d = throughput.dashboard;
  const dashboardRows = d
    ? [
        ["task events received", "over (s)", "renders", "peak renders/s", "event→render lag p99 ms", "worst lag ms", "long tasks", "longest ms"],
        [d.taskEvents, d.seconds, d.renders, d.peakRendersPerSecond, d.lagP99Ms, d.lagMaxMs, d.longTasks, d.longestTaskMs],
      ]
    : [["dashboard"], ["not measured"]];

  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  const sections: Array<[string, Array<Array<string | number>>]> = [
    [`Task throughput (${size.tasks} echo tasks, median of ${size.runs})`, throughputRows],
    ["Where the CPU goes (CPU time per task in each process, median of the runs)", cpuRows],
    [`RabbitMQ draining a backlog (bare amqplib: ${size.tasks} messages published and confirmed first, then only the drain timed, at a prefetch of the concurrency; median of ${size.runs})`, drainRows],
    [`Submission latency (POST /api/tasks, ${size.stepSeconds} s per rate; highest rate held with p99 < 50 ms: ${highestHeld} req/s)`, submissionRows],
    ...fanSummary.tables,
    ["Memory", memoryRows],
    ["Dashboard tab during a Taskcast run of its own at the highest concurrency (not counted in the throughput)", dashboardRows],
  ];
  for (const [title, rows] of sections) process.stdout.write(`\n${title}\n${formatTable(rows)}\n`);
  mkdirSync(outDir, { recursive: true });
  const name = smoke ? "bench-smoke" : "bench";
  const at = new Date().toISOString();
  writeFileSync(`${outDir}/${name}.json`, `${JSON.stringify({ at, smoke, machine, size, fanoutSize, throughput, submission, fanout: fan, fanoutRatios: fanSummary.ratios }, null, 2)}\n`);
  writeFileSync(
    `${outDir}/${name}.md`,
    `Run ${at} on ${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB, Node ${machine.node}; ${Math.round((Date.now() - started) / 1000)} s.\n\n` +
      sections.map(([title, rows]) => `**${title}**\n\n${markdownTable(rows)}\n`).join("\n"),
  );
  log(`results in ${outDir}/${name}.json and ${name}.md`);
  // The smoke run fails on what must hold at any size: every broadcast delivered exactly once, every task done.
  if (!fanSummary.exactlyOnce) throw new Error(`fan-out delivery was not exactly once: ${JSON.stringify(fan.filter((r) => r.missing > 0 || r.duplicates > 0))}`);
  if (submission.some((r) => r.steps.some((s) => s.non2xx > 0))) throw new Error("some submissions were refused");
}

try {
  await main();
  process.exit(0);
} catch (err) {
  process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
