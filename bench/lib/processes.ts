// Starts Taskcast's own processes (and the baselines' servers) for a benchmark, and reads their memory.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Child {
  process: ChildProcess;
  pid: number;
  /** Lines the process printed, for when it fails. */
  output: string[];
  stop(): Promise<void>;
}

/**
 * Taskcast's own processes run as production runs them (scripts/start.sh, package.json's start:web and
 * start:worker): compiled by scripts/build-server.sh (scripts/bench.sh builds first), with the same node flags.
 */
const PRODUCTION_ARGS: Record<string, string[]> = {
  "server/web.ts": ["dist/server/web.js"],
  "server/worker.ts": ["--max-semi-space-size=4", "dist/server/worker.js"],
};

/**
 * A Taskcast process's production arguments. For comparing builds or node flags (bench/worker-pair.ts), its env
 * may name another build directory (BENCH_DIST, e.g. "dist-b/": its server/ holds what scripts/build-server.sh
 * writes with DIST_DIR=dist-b) and, for the worker, more node flags (BENCH_WORKER_FLAGS, after the usual ones).
 */
function productionArgs(script: string, env: Record<string, string | undefined>): string[] {
  const args = PRODUCTION_ARGS[script]!;
  const entry = args.at(-1)!;
  const extra = script === "server/worker.ts" ? (env.BENCH_WORKER_FLAGS ?? "").split(" ").filter(Boolean) : [];
  const dist = env.BENCH_DIST ? entry.replace(/^dist\//, env.BENCH_DIST.replace(/\/?$/, "/")) : entry;
  return [...args.slice(0, -1), ...extra, dist];
}

/**
 * Runs a Taskcast process as production does, any other script with `node --import tsx <script>` (not the tsx
 * CLI, so the pid is the process doing the work), and resolves once a line of its output matches `ready`.
 */
export async function startProcess(script: string, env: Record<string, string | undefined>, ready: (line: string) => boolean, timeoutMs = 60_000): Promise<Child> {
  // BENCH_CPU_PROF_DIR=/some/dir writes a V8 CPU profile of every process the benchmark starts (open in Chrome's DevTools).
  const profile = process.env.BENCH_CPU_PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
  const args = PRODUCTION_ARGS[script] ? productionArgs(script, env) : ["--import", "tsx", script];
  const child = spawn(process.execPath, [...profile, ...args], { cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await once(child, "exit");
    clearTimeout(timer);
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} was not ready within ${timeoutMs} ms:\n${output.slice(-20).join("\n")}`)), timeoutMs);
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        output.push(line);
        if (output.length > 200) output.shift();
        if (ready(line)) {
          clearTimeout(timer);
          resolve();
        }
      }
    };
    child.stdout!.on("data", onLine);
    child.stderr!.on("data", onLine);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready:\n${output.slice(-20).join("\n")}`));
    });
  });
  return { process: child, pid: child.pid!, output, stop };
}

/** Resident memory of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak. */
export function sampleRss(pid: number, everyMs = 200): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      /* the process ended */
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** CPU time (user + system) a process has used so far, in seconds (Linux /proc, clock ticks of 10 ms). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The pid of the RabbitMQ node (its Erlang VM), if it runs on this machine. */
export function brokerPid(): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes("beam.smp") && cmdline.includes("rabbit")) return Number(entry);
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined;
}

/**
 * CPU seconds each named process spends while `work` runs: where the time of a benchmark goes, across the
 * broker, Redis and Taskcast's own processes. Processes not on this machine are left out.
 */
export async function cpuDuring<T>(pids: Record<string, number | undefined>, work: () => Promise<T>): Promise<{ result: T; cpu: Record<string, number> }> {
  const known = Object.entries(pids).filter((e): e is [string, number] => e[1] !== undefined);
  const before = Object.fromEntries(known.map(([name, pid]) => [name, cpuSeconds(pid)]));
  const selfBefore = process.cpuUsage();
  const result = await work();
  const self = process.cpuUsage(selfBefore);
  const cpu: Record<string, number> = { "bench client": (self.user + self.system) / 1e6 };
  for (const [name, pid] of known) cpu[name] = Math.round((cpuSeconds(pid) - before[name]) * 100) / 100;
  return { result, cpu };
}
