// Submitting tasks from the web node (HTTP API and dashboard): validate, record as queued, publish, confirm.
import { randomUUID } from "node:crypto";
import { SubmitTaskSchema, type TaskRecord } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import { invalidInput, messageOf, unavailable } from "../errors";
import type { Logger } from "../logger";
import type { TaskPublisher } from "../queue/publisher";
import type { TaskStore } from "../store/task-store";
import { checkTask } from "./registry";

export class TaskService {
  constructor(
    private readonly store: TaskStore,
    private readonly publisher: TaskPublisher,
    private readonly announce: (record: TaskRecord) => void,
    private readonly log: Logger,
  ) {}

  /** Resolves with the queued record once RabbitMQ has confirmed the message. */
  async submit(input: unknown): Promise<TaskRecord> {
    const parsed = SubmitTaskSchema.safeParse(input);
    if (!parsed.success) throw invalidInput(`Invalid task: ${describeZodError(parsed.error)}. Send {"type": string, "payload"?: object}.`);
    const { type, payload = {} } = parsed.data;
    const check = checkTask(type, payload);
    if (!check.ok) throw invalidInput(check.error);

    const record: TaskRecord = { id: randomUUID(), type, payload, status: "queued", progress: 0, attempts: 0, createdAt: new Date().toISOString(), version: 1 };
    // The record exists before the message, so a worker always finds it.
    await this.store.save(record).catch((err: unknown) => {
      throw unavailable(`Redis is not reachable, so the task was not accepted (${messageOf(err)}). Try again.`);
    });
    try {
      await this.publisher.publish({ id: record.id, type, payload });
    } catch (err) {
      await this.store.remove(record.id).catch(() => undefined);
      throw err;
    }
    this.log.info({ taskId: record.id, type }, "task queued");
    this.announce(record);
    return record;
  }
}
