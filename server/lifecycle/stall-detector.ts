// Marks running tasks whose worker stopped beating as `stalled`, until RabbitMQ redelivers them.
import { nextRecord } from "../../lib/task-lifecycle";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { TaskStore } from "../store/task-store";
import type { WorkerDirectory } from "../store/worker-directory";

/** Running tasks read per round trip; a sweep reads them all. */
const SWEEP_PAGE = 500;

/**
 * Every web node sweeps; the store's compare-and-set makes concurrent sweeps harmless. A task is
 * stalled when the worker named in its record is not among the live workers (no beat for 5 s).
 */
export function startStallDetector(options: { store: TaskStore; workers: WorkerDirectory; live: LiveEvents; intervalMs: number; log: Logger }): () => void {
  const { store, workers, log } = options;
  let busy = false;
  let failing = false;
  const sweep = async () => {
    if (busy) return;
    busy = true;
    try {
      const live = new Set((await workers.live()).map((w) => w.id));
      // Every running task, a page at a time (a task that stalls leaves the index, so a later one may be
      // missed this sweep and is met by the next).
      for (let offset = 0; ; offset += SWEEP_PAGE) {
        const running = await store.list({ status: "running", limit: SWEEP_PAGE, offset });
        for (const task of running) {
          if (!task.worker || live.has(task.worker)) continue;
          const worker = task.worker;
          const stalled = await store.update(task.id, (cur) => nextRecord(cur, { type: "stall", worker }));
          if (stalled?.status === "stalled") {
            log.warn({ taskId: task.id, worker }, "task stalled: its worker stopped beating; RabbitMQ will redeliver it");
            options.live.emit("task:changed", stalled);
          }
        }
        if (running.length < SWEEP_PAGE) break;
      }
      failing = false;
    } catch (err) {
      if (!failing) log.warn({ err: messageOf(err) }, "stalled-task sweep failed");
      failing = true;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void sweep(), options.intervalMs);
  return () => clearInterval(timer);
}
