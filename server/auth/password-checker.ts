// Checks passwords against bcrypt hashes in worker threads, a bounded number at a time, so that sign-ins (a cost-12
// check is a quarter of a second of CPU) can neither stall the event loop nor queue unbounded work.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { CheckReply, CheckRequest } from "./password-worker";

/**
 * A thread running password-worker: compiled, it sits beside the bundle (scripts/build-server.sh builds
 * dist/server/password-worker.js); as TypeScript, the thread registers tsx itself first, since Node 20's worker
 * threads do not inherit the parent's `--import tsx` loader.
 */
function startThread(): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./password-worker.js", import.meta.url));
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const entry = JSON.stringify(new URL("./password-worker.ts", import.meta.url).href);
  return new Worker(`import(${tsx}).then(({ register }) => { register(); return import(${entry}); })`, { eval: true });
}

interface Job extends CheckRequest {
  resolve(ok: boolean): void;
  reject(err: Error): void;
}

/** Threads by default: leave one core to the event loop, and more than a few would only let guessing go faster. */
const defaultThreads = (maxConcurrent: number) => Math.max(1, Math.min(maxConcurrent, availableParallelism() - 1, 4));

export class PasswordChecker {
  private readonly idle: Worker[] = [];
  private readonly running = new Map<Worker, Job>();
  private readonly waiting: Job[] = [];
  private threads = 0;
  private inFlight = 0;
  private closing: Promise<void> | undefined;

  /** `maxConcurrent`: checks running or waiting for a thread at once (LOGIN_CONCURRENT_CHECKS); threads start on first use. */
  constructor(
    readonly maxConcurrent: number,
    private readonly maxThreads = defaultThreads(maxConcurrent),
  ) {}

  /** True when `maxConcurrent` checks are under way: the caller should refuse rather than call compare(). */
  get full(): boolean {
    return this.inFlight >= this.maxConcurrent;
  }

  /** Whether `password` matches `hash`, checked on a worker thread. Rejects when full or closed. */
  compare(password: string, hash: string): Promise<boolean> {
    if (this.closing) return Promise.reject(new Error("the password checker is closed"));
    if (this.full) return Promise.reject(new Error(`${this.maxConcurrent} password checks are already under way`));
    this.inFlight++;
    return new Promise<boolean>((resolve, reject) => {
      this.waiting.push({ password, hash, resolve, reject });
      this.dispatch();
    }).finally(() => this.inFlight--);
  }

  /** Stops the threads; checks under way are rejected. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const job of this.waiting.splice(0)) job.reject(new Error("the web node is shutting down"));
      await Promise.all([...this.idle, ...this.running.keys()].map((w) => w.terminate()));
    })();
    return this.closing;
  }

  private dispatch(): void {
    while (this.waiting.length > 0 && !this.closing) {
      const worker = this.idle.pop() ?? (this.threads < this.maxThreads ? this.spawn() : undefined);
      if (!worker) return;
      const job = this.waiting.shift()!;
      this.running.set(worker, job);
      // oxlint-disable-next-line unicorn/require-post-message-target-origin -- a worker thread's port, not a window
      worker.postMessage({ password: job.password, hash: job.hash } satisfies CheckRequest);
    }
  }

  private spawn(): Worker {
    const worker = startThread();
    this.threads++;
    worker.unref(); // never what keeps a process alive
    worker.on("message", (reply: CheckReply) => {
      const job = this.running.get(worker);
      this.running.delete(worker);
      this.idle.push(worker);
      if ("ok" in reply) job?.resolve(reply.ok);
      else job?.reject(new Error(`password check failed: ${reply.error}`));
      this.dispatch();
    });
    worker.on("error", (err: Error) => this.lost(worker, err));
    worker.on("exit", (code) => this.lost(worker, new Error(`the password check thread exited (code ${code})`)));
    return worker;
  }

  /** A thread that died: its check fails, and the next check starts another. */
  private lost(worker: Worker, err: Error): void {
    const idleAt = this.idle.indexOf(worker);
    if (idleAt < 0 && !this.running.has(worker)) return; // "error" then "exit": handled once
    if (idleAt >= 0) this.idle.splice(idleAt, 1);
    const job = this.running.get(worker);
    this.running.delete(worker);
    this.threads--;
    job?.reject(err);
    this.dispatch();
  }
}
