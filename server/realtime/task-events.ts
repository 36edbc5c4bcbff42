// Everything that sends `task:update` to tabs, in one place: a web node's own changes, the workers' batches
// relayed by every node, and the worker's side that sends those batches. Also `task:submit` and
// `task:submitBatch` from a tab.
import type { Emitter } from "@socket.io/redis-emitter";
import { liveCopy, MAX_IDEMPOTENCY_KEY_LENGTH, TaskRecordSchema, type BatchSubmitAck, type TaskSubmitAck } from "../../lib/contract";
import type { InterServerEvents } from "../../lib/socket-events";
import { describeZodError } from "../../lib/zod-message";
import type { Authenticator } from "../auth/authenticator";
import { invalidInput } from "../errors";
import type { TaskSubmission } from "../lifecycle/submission";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import { actorOf, assertSessionAlive, reply } from "./requests";
import type { IoServer } from "./socket-server";
import { pushToStream, streamFollowed } from "./stream-rooms";
import { UpdateCoalescer } from "./update-coalescer";

/**
 * On a web node: changes made here (submissions, cancels, retries, stalls) go out like the workers' updates,
 * in 50 ms batches: one message to the other web nodes, and each record to this node's own tabs that follow the
 * `tasks` stream. Workers' batches arrive from the adapter; each node checks them and emits each record to those
 * tabs (nothing is checked while none follows).
 * Returns the flush for shutdown.
 */
export function relayTaskUpdates(io: IoServer, live: LiveEvents, log: Logger): { flush(): void } {
  const announcements = new UpdateCoalescer((records) => {
    const copies = records.map(liveCopy);
    io.serverSideEmit("task:updates", copies);
    for (const record of copies) pushToStream(io, "tasks", record);
  });
  live.on("task:changed", (record) => announcements.push(record));

  let warned = false;
  io.on("task:updates", (records: unknown) => {
    if (!Array.isArray(records) || !streamFollowed(io, "tasks")) return;
    for (const raw of records) {
      const parsed = TaskRecordSchema.safeParse(raw);
      if (parsed.success) pushToStream(io, "tasks", parsed.data);
      else if (!warned) {
        warned = true;
        log.warn({ err: describeZodError(parsed.error) }, "ignored a malformed task update from a worker (a worker of another version?)");
      }
    }
  });
  return { flush: () => announcements.flush() };
}

/** On a worker: its task records, newest version of each per 50 ms, to every web node as one `task:updates`. */
export function workerTaskUpdates(emitter: Emitter): UpdateCoalescer {
  // The emitter's serverSideEmit is untyped: this holds it to the InterServerEvents contract.
  const send: InterServerEvents["task:updates"] = (records) => emitter.serverSideEmit("task:updates", records);
  return new UpdateCoalescer((records) => send(records.map(liveCopy)));
}

/** `task:submit` and `task:submitBatch`: the same submissions, rules and answers as `POST /api/tasks` and `/api/tasks/batch`. */
export function handleTaskSubmit(io: IoServer, submission: TaskSubmission, auth: Authenticator, log: Logger): void {
  io.on("connection", (socket) => {
    socket.on("task:submit", (input, ack) =>
      reply<TaskSubmitAck>(
        ack,
        async () => {
          await assertSessionAlive(socket, auth);
          const { task, idempotencyKey } = splitIdempotencyKey(input);
          const { record, replayed } = await submission.submit({ input: task, idempotencyKey, actor: actorOf(socket) });
          return { id: record.id, status: record.status, replayed };
        },
        log,
      ),
    );
    socket.on("task:submitBatch", (input, ack) =>
      reply<BatchSubmitAck>(
        ack,
        async () => {
          await assertSessionAlive(socket, auth);
          const { task: batch, idempotencyKey } = splitIdempotencyKey(input);
          const { records, replayed } = await submission.submitBatch({ input: batch, idempotencyKey, actor: actorOf(socket) });
          return { tasks: records, replayed };
        },
        log,
      ),
    );
  });
}

/** A socket has no headers: the Idempotency-Key travels in the event, beside the task's (or batch's) fields. */
function splitIdempotencyKey(input: unknown): { task: unknown; idempotencyKey?: string } {
  if (typeof input !== "object" || input === null || Array.isArray(input) || !("idempotencyKey" in input)) return { task: input };
  const { idempotencyKey, ...task } = input as Record<string, unknown>;
  if (typeof idempotencyKey !== "string") throw invalidInput(`idempotencyKey must be a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`);
  return { task, idempotencyKey };
}
