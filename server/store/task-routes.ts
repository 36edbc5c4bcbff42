// Which queue each task type goes to: built-in types to TASK_QUEUE, a type an outside worker announces to the
// queue that worker consumes (worker protocol). The type → queue map lives in Redis, so every web node agrees,
// and a task whose worker is gone still knows where its next attempt goes.
import type { TaskTypeInfo } from "../../lib/contract";
import type { WorkerAnnounce } from "../../lib/worker-protocol";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import type { WorkerDirectory } from "./worker-directory";
import { checkTask, taskTypes } from "../tasks/registry";
import type { Topology } from "../queue/topology";

/** How long a node trusts its copy of the live announced types; an unknown type refreshes it sooner. */
const LIVE_TYPES_TTL_MS = 1000;
/** What live outside workers offer: each type once (its first announcer's description), and every queue offering it. */
interface LiveTypes {
  /** When the read began. */
  at: number;
  types: Map<string, TaskTypeInfo & { queue: string; queues: Set<string> }>;
  /** The type → queue map in Redis, read with them. */
  mapped: Record<string, string>;
}

/** An announced queue is declared again this often (someone may have deleted it; meanwhile publishes to it fail). */
const REDECLARE_MS = 10_000;

/** The queue an outside worker's type was last routed to, if any (one HGET: for the worker's hot path). */
export const announcedQueueOf = (redis: Redis, keys: RedisKeys, type: string): Promise<string | null> => redis.hget(keys.typeQueues, type);

export type Route = { ok: true; queue: string; payload: Record<string, unknown> } | { ok: false; error: string };

export interface TaskRoutesDeps {
  redis: Redis;
  keys: RedisKeys;
  topology: Topology;
  workers: Pick<WorkerDirectory, "live">;
  /** Declares an outside worker's queue with the work queue's arguments (durable, dead-lettering, queue type). */
  declareQueue: (queue: string) => Promise<void>;
  log: Logger;
}

export class TaskRoutes {
  private live: LiveTypes = { at: 0, types: new Map(), mapped: {} };
  private refreshing?: Promise<void>;
  /** Queue → when this node last declared it. */
  private readonly declared = new Map<string, number>();

  constructor(private readonly deps: TaskRoutesDeps) {}

  /**
   * Why a queue name cannot be an outside worker's: Taskcast's own queues, and RabbitMQ's. Undefined when it can.
   */
  reserved(queue: string): string | undefined {
    const t = this.deps.topology;
    if (queue.startsWith("amq.")) return `queue names starting with "amq." belong to RabbitMQ`;
    if (queue === t.queue) return `"${queue}" is TASK_QUEUE, where Taskcast's own workers take the built-in types; consume a queue of your own`;
    if (queue.startsWith(`${t.queue}.`)) return `names starting with "${t.queue}." are Taskcast's (events, dead letters, retries)`;
    if (/\.(retry\.\d+|dead|migrating|migration-lock)$/.test(queue)) return `names ending in ".retry.<n>", ".dead", ".migrating" or ".migration-lock" are those Taskcast gives the queues it makes beside a work queue`;
    return undefined;
  }

  /**
   * A new submission: its type must be built in or offered by a live outside worker now. Answers the queue it
   * goes to and the payload to send (a built-in type's payload as its schema parsed it).
   */
  async forSubmission(type: string, payload: Record<string, unknown>): Promise<Route> {
    if (taskTypes.has(type)) return this.builtIn(type, payload);
    // A type not in this node's copy may have been announced since: read again before refusing (the API's rate
    // limits bound how often a client can make a node do so).
    let live = await this.liveTypes(false);
    if (!live.has(type)) live = await this.liveTypes(true);
    return this.announcedRoute(type, payload, live);
  }

  /**
   * A batch's submissions, answered in order as forSubmission answers each: the live types are read once for the
   * whole batch, and read again once if the batch names a type not in them (not once per such task).
   */
  async forSubmissions(tasks: ReadonlyArray<{ type: string; payload: Record<string, unknown> }>): Promise<Route[]> {
    const announced = tasks.filter(({ type }) => !taskTypes.has(type));
    let live = announced.length > 0 ? await this.liveTypes(false) : new Map();
    if (announced.some(({ type }) => !live.has(type))) live = await this.liveTypes(true);
    return tasks.map(({ type, payload }) => (taskTypes.has(type) ? this.builtIn(type, payload) : this.announcedRoute(type, payload, live)));
  }

  /** A type outside workers announce: its queue if a live one offers it, else why not. */
  private announcedRoute(type: string, payload: Record<string, unknown>, live: LiveTypes["types"]): Route {
    const offered = live.get(type);
    if (!offered) return { ok: false, error: `Unknown task type "${type}". Known types: ${[...taskTypes.keys(), ...[...live.keys()].sort()].join(", ")}.` };
    return { ok: true, queue: this.live.mapped[type] ?? offered.queue, payload };
  }

  /**
   * A task that exists (an operator's retry, an overdue retry): built in, or a type some outside worker announced
   * at some time. Its worker need not be live: the task waits in its queue.
   */
  async forExisting(type: string, payload: unknown): Promise<Route> {
    if (taskTypes.has(type)) return this.builtIn(type, payload);
    const queue = await this.mapped(type);
    if (!queue) return { ok: false, error: `Unknown task type "${type}": no worker runs it. Known types: ${[...taskTypes.keys()].join(", ")} and those outside workers announce.` };
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return { ok: false, error: `Invalid payload for "${type}": send a JSON object.` };
    return { ok: true, queue, payload: payload as Record<string, unknown> };
  }

  /** The queue of a type: TASK_QUEUE for a built-in or never announced type. */
  async queueOf(type: string): Promise<string> {
    return (taskTypes.has(type) ? undefined : await this.mapped(type)) ?? this.deps.topology.queue;
  }

  /** TASK_QUEUE first, then every queue an outside worker announced (live or not), sorted. */
  async queues(): Promise<string[]> {
    const announced = new Set(Object.values(await this.deps.redis.hgetall(this.deps.keys.typeQueues)));
    announced.delete(this.deps.topology.queue);
    return [this.deps.topology.queue, ...[...announced].sort()];
  }

  /** The live announced types, each with the queue it goes to (for the submit form). */
  async announcedTypes(): Promise<Array<TaskTypeInfo & { queue: string }>> {
    const live = await this.liveTypes(false);
    const { mapped } = this.live;
    return [...live.values()].filter((t) => !taskTypes.has(t.name)).map(({ name, description, example, queue }) => ({ name, description, example, queue: mapped[name] ?? queue }));
  }

  /**
   * An announcement: its types now go to its queue, which Taskcast declares. A type another queue's live worker
   * still offers stays with that queue (a type belongs to one queue; tasks already queued there wait there).
   * Returns the types kept elsewhere, for the caller to log.
   */
  async learn(a: WorkerAnnounce): Promise<string[]> {
    await this.declare(a.queue);
    // Read afresh at every announcement (one HMGET): another node may have moved a type meanwhile.
    const pending = a.types.map((t) => t.name).filter((name) => !taskTypes.has(name));
    if (pending.length === 0) return [];
    const current = await this.deps.redis.hmget(this.deps.keys.typeQueues, ...pending);
    const live = pending.some((_, i) => current[i] !== null && current[i] !== a.queue) ? await this.liveTypes(true) : undefined;
    const kept: string[] = [];
    const moves: string[] = [];
    pending.forEach((name, i) => {
      const queue = current[i];
      if (queue === a.queue) return;
      // Another queue has it; it moves here only when no live worker offers it there any more.
      if (queue !== null && live?.get(name)?.queues.has(queue)) return void kept.push(name);
      moves.push(name, a.queue);
    });
    if (moves.length > 0) {
      await this.deps.redis.hset(this.deps.keys.typeQueues, ...moves);
      this.deps.log.info({ queue: a.queue, types: moves.filter((_, i) => i % 2 === 0), worker: a.worker }, "task types routed to an outside worker's queue");
    }
    return kept;
  }

  /** Forgets which queues were declared (RabbitMQ may have restarted): the next announcement declares again. */
  reset(): void {
    this.declared.clear();
  }

  private async declare(queue: string): Promise<void> {
    const at = this.declared.get(queue);
    if (at !== undefined && Date.now() - at < REDECLARE_MS) return;
    try {
      await this.deps.declareQueue(queue);
      this.declared.set(queue, Date.now());
    } catch (err) {
      // Not declared (it exists with other arguments and a worker consumes it): tasks still reach it; say what to do.
      this.declared.set(queue, Date.now());
      this.deps.log.error({ queue, err: messageOf(err) }, "could not declare an outside worker's queue with Taskcast's arguments; its tasks are still routed to it, but a message RabbitMQ rejects there is not dead-lettered to the dead-letter queue");
    }
  }

  private builtIn(type: string, payload: unknown): Route {
    const check = checkTask(type, payload);
    return check.ok ? { ok: true, queue: this.deps.topology.queue, payload: check.payload } : check;
  }

  private async mapped(type: string): Promise<string | undefined> {
    return (await announcedQueueOf(this.deps.redis, this.deps.keys, type)) ?? undefined;
  }

  private async liveTypes(fresh: boolean): Promise<LiveTypes["types"]> {
    if (!fresh && Date.now() - this.live.at < LIVE_TYPES_TTL_MS) return this.live.types;
    // A fresh read does not join one already under way: that one may have started before the announcement it needs.
    if (fresh || !this.refreshing) this.refreshing = this.readLiveTypes();
    const reading = this.refreshing;
    try {
      await reading;
    } finally {
      // Failed or not, the next call reads again: a failed read must not be joined for ever.
      if (this.refreshing === reading) this.refreshing = undefined;
    }
    return this.live.types;
  }

  /** Reads what live outside workers offer; kept unless a read that started later has finished first. */
  private async readLiveTypes(): Promise<void> {
    const at = Date.now();
    const [workers, mapped] = await Promise.all([this.deps.workers.live(), this.deps.redis.hgetall(this.deps.keys.typeQueues)]);
    const types: LiveTypes["types"] = new Map();
    for (const w of workers.sort((a, b) => a.id.localeCompare(b.id))) {
      if (!w.queue || !w.types) continue;
      for (const t of w.types) {
        const known = types.get(t.name) ?? { name: t.name, description: t.description ?? "", example: t.example ?? {}, queue: w.queue, queues: new Set<string>() };
        known.queues.add(w.queue);
        types.set(t.name, known);
      }
    }
    if (at >= this.live.at) this.live = { at, types, mapped };
  }

}
