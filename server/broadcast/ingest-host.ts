// Runs the web node's broadcast ingestor on its own thread (ingest-thread.ts) and restarts it should it die: the
// lease holder records an outside message as soon as it arrives, not once the node's event loop, busy writing the
// previous broadcasts to its sockets, gets to it.
import { Worker } from "node:worker_threads";
import type { Broadcast } from "../../lib/contract";
import { messageOf } from "../errors";
import type { Logger } from "../logger";

/** What the thread needs: plain values (a thread shares no objects with the node). */
export interface IngestThreadData {
  redisUrl: string;
  keyPrefix: string;
  channel: string;
  history: number;
  maxBytes: number;
  logLevel: string;
}

/** What the node tells its thread. */
export type IngestThreadCommand = { kind: "stop" };

/** What the thread tells the node. */
export type IngestThreadMessage =
  | { kind: "ready" }
  /** A log line of the thread (pino JSON), written by the node's logger. */
  | { kind: "log"; line: string }
  /** A broadcast the thread recorded: the node counts it (metrics, activity). */
  | { kind: "recorded"; broadcast: Broadcast };

/** How long a stopping thread may take to give the lease back and close its connections. */
const STOP_TIMEOUT_MS = 5000;
/** A thread that died is started again after this long. */
const RESTART_MS = 1000;

/**
 * The thread's file: compiled, it sits beside the bundle (scripts/build-server.sh builds dist/server/ingest-thread.js);
 * as TypeScript, the thread registers tsx itself first, since Node 20's worker threads do not inherit the parent's
 * `--import tsx` loader.
 */
function startThread(data: IngestThreadData): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./ingest-thread.js", import.meta.url), { workerData: data });
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const entry = JSON.stringify(new URL("./ingest-thread.ts", import.meta.url).href);
  return new Worker(`import(${tsx}).then(({ register }) => { register(); return import(${entry}); })`, { eval: true, workerData: data });
}

export class IngestThread {
  private thread: Worker | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly data: IngestThreadData,
    private readonly log: Logger,
    /** Each broadcast the thread recorded. */
    private readonly recorded: (broadcast: Broadcast) => void,
  ) {}

  /** Starts the thread; resolves once it subscribed and made its first bid for the lease. */
  start(): Promise<void> {
    const thread = startThread(this.data);
    this.thread = thread;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      thread.on("message", (message: IngestThreadMessage) => {
        if (message.kind === "ready") {
          ready = true;
          resolve();
        } else if (message.kind === "log") this.writeLine(message.line);
        else if (message.kind === "recorded") this.recorded(message.broadcast);
      });
      thread.on("error", (err: unknown) => {
        if (!ready) return reject(err);
        this.log.error({ err: messageOf(err) }, "the broadcast ingest thread failed; starting it again");
      });
      thread.on("exit", (code) => {
        if (!ready) reject(new Error(`the broadcast ingest thread exited (code ${code}) before it was ready`));
        if (this.thread !== thread) return;
        this.thread = undefined;
        if (ready) this.restartLater();
      });
    });
  }

  private restartLater(): void {
    if (this.stopping) return;
    this.restartTimer = setTimeout(() => {
      this.start().catch((err: unknown) => {
        this.log.error({ err: messageOf(err) }, "could not start the broadcast ingest thread again; retrying");
        this.restartLater();
      });
    }, RESTART_MS);
  }

  /** Gives the lease back (if held) and ends the thread. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const thread = this.thread;
    if (!thread) return;
    const exited = new Promise<void>((resolve) => thread.once("exit", () => resolve()));
    thread.postMessage({ kind: "stop" } satisfies IngestThreadCommand, []); // nothing transferred
    const timer = setTimeout(() => void thread.terminate(), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  /** A pino line of the thread, through the node's logger at its level. */
  private writeLine(line: string): void {
    try {
      const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
      const label = this.log.levels.labels[level] as "info" | "warn" | "error" | undefined;
      this.log[label ?? "info"]({ ...fields, thread: "broadcast-ingest" }, msg ?? "");
    } catch {
      this.log.info({ thread: "broadcast-ingest" }, line.trim());
    }
  }
}
