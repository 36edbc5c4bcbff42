// Prometheus metrics (prom-client) of a web node or a worker: one registry per process part, served at GET /metrics.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { isFinished, TASK_STATUSES, type QueueList, type TaskRecord } from "../../lib/contract";
import type { LiveEvents } from "../live-events";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import { taskTypes } from "../tasks/registry";
import { isoMs } from "../../lib/iso-time";

/**
 * A task type as a metric label: any publisher may send any `type`, and every label value is a series kept for
 * the life of the process, so types the registry does not know share one label.
 */
export const typeLabel = (type: string) => (taskTypes.has(type) ? type : "(unknown)");

/** Seconds; tasks range from an echo (sub-millisecond) to long jobs. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

function baseRegistry(part: "web" | "worker"): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ part });
  // process_* and nodejs_*: memory, CPU, event-loop lag, handles, GC.
  collectDefaultMetrics({ register: registry });
  return registry;
}

export class WebMetrics {
  readonly registry = baseRegistry("web");
  private readonly submitted = new Counter({ name: "taskcast_tasks_submitted_total", help: "Tasks submitted through this web node, by type", labelNames: ["type"], registers: [this.registry] });
  private readonly broadcasts = new Counter({
    name: "taskcast_broadcasts_total",
    help: "Broadcasts logged by this web node, by source (dashboard, api, redis); each broadcast is counted once in the cluster",
    labelNames: ["source"],
    registers: [this.registry],
  });
  /** Read when scraped. */
  private readonly gauges: Gauge[];
  private readonly operatorActions = new Counter({ name: "taskcast_operator_actions_total", help: "Operator actions and sign-ins recorded in the audit log, by action", labelNames: ["action"], registers: [this.registry] });
  private readonly refusedWorkerEvents = new Counter({
    name: "taskcast_worker_events_refused_total",
    help: "Outside workers' events this web node refused, by reason (not-json, bad-shape, unknown-task, not-applicable) or could not apply (unapplied)",
    labelNames: ["reason"],
    registers: [this.registry],
  });

  constructor(options: {
    redis: Redis;
    keys: RedisKeys;
    /** Socket.IO connections open on this node. */
    sockets: () => number;
    /** Submitted tasks, audit entries and queue samples are counted as they happen. */
    live: LiveEvents;
  }) {
    const { registry } = this;
    // Every known queue's last sample; a queue no longer listed leaves the gauges (they are reset on every scrape).
    let lastSample: QueueList = { queues: [] };
    options.live.on("queues:sampled", (list) => (lastSample = list));
    options.live.on("task:submitted", (record) => this.submitted.inc({ type: typeLabel(record.type) }));
    options.live.on("audit:recorded", (entry) => this.operatorActions.inc({ action: entry.action }));
    options.live.on("broadcast:logged", (broadcast) => this.broadcasts.inc({ source: broadcast.source }));
    options.live.on("worker-event:refused", (reason) => this.refusedWorkerEvents.inc({ reason }));
    this.gauges = [
      new Gauge({
        name: "taskcast_queue_messages",
        help:
          "Messages on each task queue (TASK_QUEUE and the outside workers' queues): ready (waiting), unacked (held by live workers), " +
          "dead (in the dead-letter queue TASK_QUEUE.dead, which every queue shares: counted on TASK_QUEUE, 0 on the others)",
        labelNames: ["queue", "state"],
        registers: [registry],
        collect() {
          this.reset();
          for (const stats of lastSample.queues) {
            this.set({ queue: stats.queue, state: "ready" }, stats.ready);
            this.set({ queue: stats.queue, state: "unacked" }, stats.unacked);
            this.set({ queue: stats.queue, state: "dead" }, stats.dead);
          }
        },
      }),
      new Gauge({
        name: "taskcast_queue_consumers",
        help: "Consumers RabbitMQ reports on each task queue (TASK_QUEUE and the outside workers' queues)",
        labelNames: ["queue"],
        registers: [registry],
        collect() {
          this.reset();
          for (const stats of lastSample.queues) this.set({ queue: stats.queue }, stats.consumers);
        },
      }),
      new Gauge({
        name: "taskcast_tasks",
        help: "Task records in Redis by status (the same on every web node: aggregate with max, not sum)",
        labelNames: ["status"],
        registers: [registry],
        async collect() {
          const pipeline = options.redis.pipeline();
          for (const status of TASK_STATUSES) pipeline.zcard(options.keys.tasksByStatus(status));
          const counts = (await pipeline.exec()) ?? [];
          TASK_STATUSES.forEach((status, i) => {
            const [err, count] = counts[i] ?? [];
            if (!err) this.set({ status }, Number(count));
          });
        },
      }),
      new Gauge({
        name: "taskcast_socket_connections",
        help: "Socket.IO connections (dashboard tabs and services) open on this web node",
        registers: [registry],
        collect() {
          this.set(options.sockets());
        },
      }),
    ];
  }

}

export class WorkerMetrics {
  readonly registry = baseRegistry("worker");
  private readonly finished = new Counter({ name: "taskcast_tasks_finished_total", help: "Tasks this worker settled for good, by type and final status", labelNames: ["type", "status"], registers: [this.registry] });
  private readonly attempts = new Counter({ name: "taskcast_task_attempts_total", help: "Attempts this worker ended, by type and outcome", labelNames: ["type", "outcome"], registers: [this.registry] });
  private readonly retries = new Counter({ name: "taskcast_task_retries_total", help: "Attempts that failed and were parked in a retry queue, by type", labelNames: ["type"], registers: [this.registry] });
  private readonly deadLetters = new Counter({ name: "taskcast_dead_letters_total", help: "Tasks this worker moved to the dead-letter queue, by type", labelNames: ["type"], registers: [this.registry] });
  private readonly duration = new Histogram({
    name: "taskcast_task_duration_seconds",
    help: "How long one attempt ran, by type and outcome",
    labelNames: ["type", "outcome"],
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  private readonly gauges: Gauge[];

  constructor(options: { running: () => number; concurrency: number; prefetch: () => number }) {
    this.gauges = [
      new Gauge({
        name: "taskcast_worker_running_tasks",
        help: "Tasks this worker is running now",
        registers: [this.registry],
        collect() {
          this.set(options.running());
        },
      }),
      new Gauge({ name: "taskcast_worker_concurrency", help: "Tasks this worker runs at once (WORKER_CONCURRENCY)", registers: [this.registry] }),
      new Gauge({
        name: "taskcast_worker_prefetch",
        help: "Deliveries this worker holds at most now (WORKER_PREFETCH, or sized to its tasks when unset)",
        registers: [this.registry],
        collect() {
          this.set(options.prefetch());
        },
      }),
    ];
    this.gauges[1].set(options.concurrency);
  }

  /**
   * Label children by label values: prom-client hashes the labels on every `inc({...})`, which a worker paid
   * three times per task; a child found here is counted directly.
   */
  private readonly children = new Map<string, { inc(): void } | { observe(v: number): void }>();
  private child<C extends { inc(): void } | { observe(v: number): void }>(metric: { labels(...values: string[]): C }, name: string, ...values: string[]): C {
    const key = `${name}\u0000${values.join("\u0000")}`;
    let found = this.children.get(key) as C | undefined;
    if (!found) this.children.set(key, (found = metric.labels(...values)));
    return found;
  }

  /** Counts what a record written by this worker says happened: an attempt ended, a retry, a final status. */
  recorded(record: TaskRecord): void {
    const type = typeLabel(record.type);
    const last = record.attemptLog.at(-1);
    const attemptEnded = last?.finishedAt !== undefined && last.outcome !== "running" && (record.status === "retrying" || isFinished(record.status));
    if (attemptEnded && last) {
      this.child(this.attempts, "attempts", type, last.outcome).inc();
      const seconds = (isoMs(last.finishedAt!) - isoMs(last.startedAt)) / 1000;
      if (Number.isFinite(seconds) && seconds >= 0) this.child(this.duration, "duration", type, last.outcome).observe(seconds);
    }
    if (record.status === "retrying") this.child(this.retries, "retries", type).inc();
    if (isFinished(record.status)) {
      this.child(this.finished, "finished", type, record.status).inc();
      if (record.status === "dead") this.child(this.deadLetters, "dead", type).inc();
    }
  }

}
