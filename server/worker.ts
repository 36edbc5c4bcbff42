// Entry point of a worker process: `npm run start:worker`.
import { checkExposure, ConfigError, loadConfigOrExit } from "./config";
import { createLogger } from "./logger";
import { onShutdownSignal } from "./process";
import { startWorkerNode } from "./worker-node";

const config = loadConfigOrExit();
try {
  checkExposure(config, "worker"); // refusing to serve /metrics openly should be quick and clear
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
const log = createLogger("worker", config.LOG_LEVEL, config.NODE_ENV === "development");
const worker = await startWorkerNode(config, log);
log.info({ worker: worker.id, queue: config.TASK_QUEUE, concurrency: config.WORKER_CONCURRENCY, metrics: `${worker.metricsUrl}/metrics` }, "worker ready");
onShutdownSignal(log, () => worker.close());
