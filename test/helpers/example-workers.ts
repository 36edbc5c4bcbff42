// The example outside workers (examples/php-worker, examples/python-worker) as real processes, for tests.
import { spawn, type ChildProcess } from "node:child_process";
import { eventually, type Stack } from "./stack";

const ROOT = new URL("../..", import.meta.url).pathname;

export interface ExampleWorker {
  process: ChildProcess;
  /** The worker id it announces (from its first log line). */
  id: string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  output(): string;
  /** Its JSON log lines so far. */
  lines(): Array<Record<string, unknown>>;
}

const COMMANDS: Record<"php" | "python", [string, ...string[]]> = {
  php: ["php", "examples/php-worker/worker.php"],
  // Debian's python3 with python3-pika; `python3` on PATH may be another one (pyenv).
  python: ["/usr/bin/python3", "examples/python-worker/worker.py"],
};

/**
 * Starts an example worker with the stack's RabbitMQ and TASK_QUEUE, consuming `queue`, and waits until it consumes
 * (it announces itself, then waits for a web node to declare its queue).
 */
export async function spawnExampleWorker(stack: Stack, language: keyof typeof COMMANDS, queue: string, env: Record<string, string> = {}): Promise<ExampleWorker> {
  const [command, ...args] = COMMANDS[language];
  const child: ChildProcess = spawn(command, args, {
    cwd: ROOT,
    env: { ...stack.env, NODE_ENV: "production", RABBITMQ_URL: stack.config.rabbitmqUrls[0], TASK_QUEUE: stack.config.TASK_QUEUE, WORKER_QUEUE: queue, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const lines = () =>
    output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const id = await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`${language} worker exited early:\n${output}`);
      const line = lines().find((l) => l.msg === "consuming tasks");
      return line ? String(line.worker) : undefined;
    },
    `the ${language} worker to start`,
    20_000,
  ).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw new Error(`${String(err)}\n${output}`);
  });
  return { process: child, id, exited, output: () => output, lines };
}

/** Stops a worker that is still running (SIGTERM, then SIGKILL after 5 s). */
export async function stopExampleWorker(w: ExampleWorker): Promise<void> {
  if (w.process.exitCode !== null || w.process.signalCode !== null) return;
  w.process.kill("SIGTERM");
  const timer = setTimeout(() => w.process.kill("SIGKILL"), 5_000);
  await w.exited;
  clearTimeout(timer);
}
