// Sweeps for tasks that would otherwise wait forever: running tasks whose worker stopped beating are marked
// `stalled` (RabbitMQ redelivers them), and retrying tasks whose retry message was lost are queued again.
import type { Payload } from "../../lib/contract";
import { nextRecord, runOf } from "../../lib/task-lifecycle";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import { runPeriodically } from "../periodic";
import type { ConfirmPublisher } from "../queue/publisher";
import type { PublishOutbox } from "../store/publish-outbox";
import type { TaskStore } from "../store/task-store";
import type { WorkerDirectory } from "../store/worker-directory";

/** Running tasks read per round trip; a sweep reads them all. */
const SWEEP_PAGE = 500;
/**
 * A retrying task this long past its next attempt lost its retry message (RabbitMQ moves it back to the work
 * queue at that time; a long backlog can hold it a while longer, hence the margin).
 */
export const RETRY_OVERDUE_MS = 10 * 60 * 1000;

/**
 * Every web node sweeps; the store's compare-and-set makes concurrent sweeps harmless. A task is
 * stalled when the worker named in its record is not among the live workers (no beat for 5 s).
 */
export function startStallDetector(options: {
  store: TaskStore;
  workers: WorkerDirectory;
  /** Queues an overdue retry again. */
  publisher: Pick<ConfirmPublisher, "publishTask">;
  /** An overdue retry queued again is marked as being published until RabbitMQ has it (store/publish-outbox.ts). */
  outbox: Pick<PublishOutbox, "publishMarked">;
  /** The queue of a task's type (an outside worker's types go to its queue). */
  queueOf: (type: string) => Promise<string>;
  live: LiveEvents;
  intervalMs: number;
  log: Logger;
}): () => void {
  const { store, workers, log } = options;
  const sweep = async () => {
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
    await recoverOverdueRetries();
  };
  /**
   * The record moves to the new run first (compare-and-set, so of several web nodes sweeping only one does),
   * then that node publishes the new run's message; if the publish fails the record goes back to retrying,
   * still overdue, for the next sweep. The lost message, should it come back, names the earlier run: dropped.
   * The move marks the task as being published (in the same write), so a node that stops before RabbitMQ has the
   * message leaves it to the delayed-task mover, which publishes it.
   */
  const recoverOverdueRetries = async () => {
    const overdueBefore = new Date(Date.now() - RETRY_OVERDUE_MS).toISOString();
    for (let offset = 0; ; offset += SWEEP_PAGE) {
      const retrying = await store.list({ status: "retrying", limit: SWEEP_PAGE, offset });
      for (const task of retrying) {
        if (!task.nextAttemptAt || task.nextAttemptAt >= overdueBefore) continue;
        const run = runOf(task) + 1;
        let moved = false;
        const queued = await store.update(
          task.id,
          (cur) => {
            const next = runOf(cur) === run - 1 ? nextRecord(cur, { type: "recover-overdue", overdueBefore }) : undefined;
            moved = next !== undefined;
            return next;
          },
          undefined,
          { publishing: true },
        );
        if (!moved || !queued) continue;
        await options.outbox.publishMarked(
          [task.id],
          async () => options.publisher.publishTask({ id: task.id, type: task.type, payload: task.payload as Payload }, task.priority, run, await options.queueOf(task.type)),
          () => store.update(task.id, (cur) => nextRecord(cur, { type: "recover-failed", run, nextAttemptAt: task.nextAttemptAt! })),
        );
        log.warn({ taskId: task.id, nextAttemptAt: task.nextAttemptAt, run }, "retry overdue: its message was lost; queued again as a new run");
        options.live.emit("task:changed", queued);
      }
      if (retrying.length < SWEEP_PAGE) break;
    }
  };
  return runPeriodically(sweep, { intervalMs: options.intervalMs, failure: { log, message: "stalled-task sweep failed" } });
}
