// A child process holding many socket.io-client connections for the fan-out benchmark: counts each broadcast
// per connection (to prove exactly-once delivery) and measures publish-to-receive latency.
// Driven over IPC by bench/fanout.ts: {connect: {url, count}} → {connected}; {prepare: n} → {prepared};
// {report: {expected}} → FanoutReport; {close: true}.
import { io, type Socket } from "socket.io-client";

export interface FanoutReport {
  connections: number;
  /** Deliveries received, summed over connections. */
  received: number;
  /** (connection, broadcast) pairs that arrived more than once, and that never arrived. */
  duplicates: number;
  missing: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

type Command = { connect: { url: string; count: number } } | { prepare: number } | { report: { expected: number } } | { close: true };

const sockets: Socket[] = [];
/** Per connection, how many times each sequence number arrived. */
let seen: Uint8Array[] = [];
let latencies: number[] = [];

/** Messages look like `bench:<seq>:<sentAtMs>`. */
function onMessage(index: number, message: unknown): void {
  if (typeof message !== "string" || !message.startsWith("bench:")) return;
  const [, seq, sentAt] = message.split(":");
  const n = Number(seq);
  const counts = seen[index];
  if (n >= counts.length) return;
  counts[n] = Math.min(255, counts[n] + 1);
  latencies.push(Date.now() - Number(sentAt));
}

async function connect(url: string, count: number): Promise<void> {
  const start = sockets.length;
  await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const index = start + i;
      const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { channels: null } });
      sockets.push(socket);
      seen[index] = new Uint8Array(0);
      // Taskcast sends {id, message, ...}; the bare server sends {message}.
      socket.on("broadcast", (b: { message?: unknown }) => onMessage(index, b?.message));
      return new Promise<void>((resolve, reject) => {
        socket.once("connect", () => resolve());
        socket.once("connect_error", reject);
      });
    }),
  );
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

process.on("message", (command: Command) => {
  void (async () => {
    if ("connect" in command) {
      await connect(command.connect.url, command.connect.count);
      process.send!({ connected: sockets.length });
    } else if ("prepare" in command) {
      // Every connection counts `prepare` sequence numbers from now on.
      seen = seen.map(() => new Uint8Array(command.prepare));
      latencies = [];
      process.send!({ prepared: command.prepare });
    } else if ("report" in command) {
      process.send!(report(command.report.expected));
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
  const sorted = Float64Array.from(latencies).sort();
  return { connections: sockets.length, received, duplicates, missing, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? Number.NaN };
}
