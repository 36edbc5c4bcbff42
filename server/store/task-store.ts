// Task records in Redis: one JSON value per task plus sorted-set indexes for listing newest first.
import { TASK_STATUSES, TaskRecordSchema, type TaskRecord, type TaskStatus } from "../../lib/contract";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

export class TaskStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async get(id: string): Promise<TaskRecord | undefined> {
    const raw = await this.redis.get(this.keys.task(id));
    return raw ? parse(raw) : undefined;
  }

  /** Writes a record and moves it to the index of its status, atomically. */
  async save(record: TaskRecord): Promise<void> {
    const score = Date.parse(record.createdAt);
    const tx = this.redis.multi().set(this.keys.task(record.id), JSON.stringify(record)).zadd(this.keys.tasks, score, record.id);
    for (const status of TASK_STATUSES) {
      if (status === record.status) tx.zadd(this.keys.tasksByStatus(status), score, record.id);
      else tx.zrem(this.keys.tasksByStatus(status), record.id);
    }
    await tx.exec();
  }

  async remove(id: string): Promise<void> {
    const tx = this.redis.multi().del(this.keys.task(id)).zrem(this.keys.tasks, id);
    for (const status of TASK_STATUSES) tx.zrem(this.keys.tasksByStatus(status), id);
    await tx.exec();
  }

  /** Newest first. */
  async list(options: { status?: TaskStatus; limit: number }): Promise<TaskRecord[]> {
    const index = options.status ? this.keys.tasksByStatus(options.status) : this.keys.tasks;
    const ids = await this.redis.zrevrange(index, 0, options.limit - 1);
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.keys.task(id)));
    return values.flatMap((raw) => (raw ? [parse(raw)] : []));
  }
}

function parse(raw: string): TaskRecord {
  return TaskRecordSchema.parse(JSON.parse(raw));
}
