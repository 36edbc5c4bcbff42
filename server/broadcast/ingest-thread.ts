// A web node's broadcast ingestor (ingestor.ts) on a thread of its own, started by ingest-host.ts. Under fan-out load a
// web node's event loop is busy writing to its sockets; an outside message waiting there before the lease holder records
// it would wait a second time on every node before it reaches a tab. On this thread it is recorded at once. The thread
// has its own Redis connections; its log lines and the broadcasts it records go to the node's main thread.
import { parentPort, workerData } from "node:worker_threads";
import { pino } from "pino";
import { createRedis, waitForRedis } from "../redis/connect";
import { redisKeys } from "../redis/keys";
import { closeRedis } from "../shutdown";
import { BroadcastLog } from "./broadcast-log";
import { BroadcastIngestor } from "./ingestor";
import type { IngestThreadCommand, IngestThreadData, IngestThreadMessage } from "./ingest-host";

if (!parentPort) throw new Error("ingest-thread runs only as a worker thread, started by ingest-host.ts");
const port = parentPort;
const data = workerData as IngestThreadData;
const send = (message: IngestThreadMessage) => port.postMessage(message);

// Each line goes to the main thread, which writes it through the node's own logger.
const logger = pino({ level: data.logLevel, base: undefined, timestamp: false }, { write: (line: string) => send({ kind: "log", line }) });
const redis = createRedis(data.redisUrl, "taskcast-web-ingest", logger);
const subscriber = createRedis(data.redisUrl, "taskcast-web-ingest-sub", logger, "subscriber");
try {
  await Promise.all([redis, subscriber].map((c) => waitForRedis(c, data.redisUrl)));
} catch (err) {
  await closeRedis(redis, subscriber);
  throw err;
}
const keys = redisKeys(data.keyPrefix);
const log = new BroadcastLog(redis, keys, data.channel, data.history, undefined, async (broadcast) => send({ kind: "recorded", broadcast }));
const ingestor = new BroadcastIngestor(redis, subscriber, keys, data.channel, log, data.maxBytes, logger);
await ingestor.start();

port.on("message", (command: IngestThreadCommand) => {
  if (command.kind !== "stop") return;
  // The node waits for the thread to exit: with the port closed and the connections gone, nothing keeps it alive.
  void ingestor
    .stop()
    .finally(() => closeRedis(redis, subscriber))
    .finally(() => port.close());
});
send({ kind: "ready" });
