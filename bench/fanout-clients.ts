// A child process holding many socket.io-client connections for the fan-out benchmark: counts each broadcast
// per connection (to prove exactly-once delivery) and measures publish-to-receive latency.
// Driven over IPC by bench/fanout.ts: {connect: {targets: [{url, count}]}} → {connected}; {prepare: {round, total}}
// → {prepared}; {report: {expected}} → FanoutReport; {disconnect: true} → {disconnected}; {close: true}.
import { io, type Socket } from "socket.io-client";

/** Latencies are kept as a histogram of 0.1 ms buckets, so reports from several processes merge exactly. */
export const BUCKET_MS = 0.1;

export interface FanoutReport {
  connections: number;
  /** Deliveries received, summed over connections. */
  received: number;
  /** (connection, broadcast) pairs that arrived more than once, and that never arrived. */
  duplicates: number;
  missing: number;
  /** [bucket, count] pairs of publish-to-receive latency, bucket = floor(ms / BUCKET_MS). */
  histogram: Array<[number, number]>;
  /** Per broadcast, the slowest connection's latency (ms): shows whether a run's tail is one stall or spread out. */
  slowestMs: number[];
}

type Command =
  | { connect: { targets: Array<{ url: string; count: number }> } }
  | { prepare: { round: string; total: number } }
  | { report: { expected: number } }
  | { disconnect: true }
  | { close: true };

let sockets: Socket[] = [];
/** Per connection, how many times each sequence number arrived. */
let seen: Uint8Array[] = [];
let histogram = new Map<number, number>();
let slowest = new Float64Array(0);
/** Only messages of the current round count: `bench:<round>:<seq>:<sentAtMs>`. */
let prefix = "\0";

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one machine. */
const nowMs = () => performance.timeOrigin + performance.now();

function onMessage(index: number, message: unknown): void {
  if (typeof message !== "string" || !message.startsWith(prefix)) return;
  const at = nowMs();
  const rest = message.slice(prefix.length);
  const colon = rest.indexOf(":");
  const n = Number(rest.slice(0, colon));
  const counts = seen[index];
  if (!(n < counts.length)) return;
  counts[n] = Math.min(255, counts[n] + 1);
  const latency = at - Number(rest.slice(colon + 1));
  if (latency > slowest[n]) slowest[n] = latency;
  const bucket = Math.max(0, Math.floor(latency / BUCKET_MS));
  histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1);
}

async function connect(targets: Array<{ url: string; count: number }>): Promise<void> {
  const opening: Array<Promise<void>> = [];
  for (const { url, count } of targets) {
    for (let i = 0; i < count; i++) {
      const index = sockets.length;
      // Tabs showing only broadcasts: no live streams (`streams: []`), as the bare server's clients get only broadcasts.
      const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { channels: null, streams: [] } });
      sockets.push(socket);
      seen[index] = new Uint8Array(0);
      // Taskcast and the bare server both send {id, message, channel, source, at}.
      socket.on("broadcast", (b: { message?: unknown }) => onMessage(index, b?.message));
      opening.push(
        new Promise<void>((resolve, reject) => {
          socket.once("connect", () => resolve());
          socket.once("connect_error", reject);
        }),
      );
    }
  }
  await Promise.all(opening);
}

process.on("message", (command: Command) => {
  void (async () => {
    if ("connect" in command) {
      await connect(command.connect.targets);
      process.send!({ connected: sockets.length });
    } else if ("prepare" in command) {
      // Every connection counts `total` sequence numbers of this round from now on.
      seen = seen.map(() => new Uint8Array(command.prepare.total));
      histogram = new Map();
      slowest = new Float64Array(command.prepare.total);
      prefix = `bench:${command.prepare.round}:`;
      process.send!({ prepared: command.prepare.total });
    } else if ("report" in command) {
      process.send!(report(command.report.expected));
    } else if ("disconnect" in command) {
      for (const socket of sockets) socket.disconnect();
      sockets = [];
      seen = [];
      prefix = "\0";
      process.send!({ disconnected: true });
    } else {
      for (const socket of sockets) socket.disconnect();
      process.send!({ closed: true });
      process.exit(0);
    }
  })();
});

function report(expected: number): FanoutReport {
  let received = 0;
  let duplicates = 0;
  let missing = 0;
  for (const counts of seen) {
    for (let n = 0; n < expected; n++) {
      const c = counts[n] ?? 0;
      received += c;
      if (c === 0) missing++;
      if (c > 1) duplicates++;
    }
  }
  return { connections: sockets.length, received, duplicates, missing, histogram: [...histogram], slowestMs: Array.from(slowest, (ms) => Math.round(ms)) };
}
