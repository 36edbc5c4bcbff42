// Compares two Taskcast workers' CPU per task by running them at once on one queue: whatever else the machine is
// doing weighs on both alike, so small differences show (sequential runs here drift by a quarter between runs
// minutes apart). Worker A is the stack's (A_ENV), worker B joins it with B_ENV added: another build
// (BENCH_DIST=dist-b/, built by `DIST_DIR=dist-b bash scripts/build-server.sh`), other node flags
// (BENCH_WORKER_FLAGS), or other settings. Each round publishes N echo tasks over AMQP, as another service would,
// and counts each worker's CPU (/proc/PID/schedstat, every thread) over the tasks it finished.
// Run: B_ENV='{"BENCH_WORKER_FLAGS":"--max-semi-space-size=8"}' node --import tsx bench/worker-pair.ts
// (C: each worker's concurrency, 16; N: tasks a round, 20000; ROUNDS: counted rounds after a warm-up, 8).
import { readFileSync } from "node:fs";
import { z } from "zod";
import { startProcess } from "./lib/processes";
import { startTaskcast, taskcast } from "./throughput";

const Settings = z.object({
  C: z.coerce.number().int().min(1).default(16),
  N: z.coerce.number().int().min(1000).default(20000),
  ROUNDS: z.coerce.number().int().min(1).max(50).default(8),
  A_ENV: z.string().default("{}"),
  B_ENV: z.string().default("{}"),
});
const settings = Settings.parse(process.env);
const EnvJson = z.record(z.string(), z.string());

/** CPU time a process has run, all threads (ns). */
const cpuNs = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);

/** Tasks a worker settled for good, from its metrics. */
async function finished(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("taskcast_tasks_finished_total"))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

const metricsOf = (readyLine: string) => (JSON.parse(readyLine) as { metrics: string }).metrics;
const stack = await startTaskcast(settings.C, 4600, EnvJson.parse(JSON.parse(settings.A_ENV)));
const workerB = await startProcess("server/worker.ts", { ...stack.env, ...EnvJson.parse(JSON.parse(settings.B_ENV)) }, (line) => line.includes("worker ready")).catch(async (err: unknown) => {
  await stack.stop();
  throw err;
});
const workers = [stack.worker, workerB].map((w) => ({ pid: w.pid, metrics: metricsOf(w.output.find((l) => l.includes("worker ready"))!) }));
const ratios: number[] = [];
try {
  for (let round = 0; round <= settings.ROUNDS; round++) {
    const before = await Promise.all(workers.map(async (w) => ({ tasks: await finished(w.metrics), ns: cpuNs(w.pid) })));
    const started = performance.now();
    // taskcast() checks that its own worker finished every task; here the two share them.
    await taskcast(stack, settings.N, "amqp").catch((err: unknown) => {
      if (!(err instanceof Error && err.message.includes("succeeded tasks"))) throw err;
    });
    const seconds = (performance.now() - started) / 1000;
    const per = await Promise.all(workers.map(async (w, i) => ({ tasks: (await finished(w.metrics)) - before[i].tasks, ms: (cpuNs(w.pid) - before[i].ns) / 1e6 })));
    const [a, b] = per.map((p) => p.ms / Math.max(p.tasks, 1));
    const label = round === 0 ? "warm-up" : `round ${round}`;
    console.log(`${label}: ${Math.round(settings.N / seconds)} tasks/s; A ${per[0].tasks} tasks, ${a.toFixed(4)} ms CPU a task; B ${per[1].tasks}, ${b.toFixed(4)} ms; B/A ${(b / a).toFixed(3)}`);
    if (round > 0) ratios.push(b / a);
  }
  ratios.sort((x, y) => x - y);
  const median = (ratios[Math.floor((ratios.length - 1) / 2)] + ratios[Math.ceil((ratios.length - 1) / 2)]) / 2;
  console.log(`B/A CPU per task over ${ratios.length} rounds: median ${median.toFixed(3)}, range ${ratios[0].toFixed(3)}–${ratios.at(-1)!.toFixed(3)}`);
} finally {
  await workerB.stop();
  await stack.stop();
}
process.exit(0);
