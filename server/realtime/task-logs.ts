// `task:logs`: handlers' log lines, from the worker that stored them to the tabs showing that task, on every web node.
import type { Emitter } from "@socket.io/redis-emitter";
import { TaskLogBatchSchema } from "../../lib/task-logs";
import type { InterServerEvents, TaskLogsFollowAck } from "../../lib/socket-events";
import { z } from "../../lib/zod";
import { describeZodError } from "../../lib/zod-message";
import type { Authenticator } from "../auth/authenticator";
import type { Logger } from "../logger";
import { assertSessionAlive, sessionCheckError } from "./requests";
import type { IoServer } from "./socket-server";

/** The room of the tabs following one task's log lines. */
const logsRoom = (taskId: string) => `task-logs:${taskId}`;

const FollowSchema = z.object({ taskId: z.string().min(1).max(200).nullable() });

/**
 * On a web node: `task:logs:follow` puts a socket in one task's room (a task page follows its own task), and each
 * batch a worker sends is emitted to this node's sockets in that task's room (nothing is checked while none is).
 */
export function relayTaskLogs(io: IoServer, auth: Authenticator, log: Logger): void {
  io.on("connection", (socket) => {
    let followed: string | null = null;
    socket.on("task:logs:follow", async (input, ack) => {
      const respond = typeof ack === "function" ? ack : () => undefined;
      const parsed = FollowSchema.safeParse({ taskId: input });
      if (!parsed.success) return respond({ error: `Invalid task id: ${describeZodError(parsed.error)}.` } satisfies TaskLogsFollowAck);
      const alive = await assertSessionAlive(socket, auth).then(
        () => true,
        (err: unknown) => void respond({ error: sessionCheckError(err) }),
      );
      if (!alive) return;
      if (followed !== null) void socket.leave(logsRoom(followed));
      followed = parsed.data.taskId;
      if (followed !== null) void socket.join(logsRoom(followed));
      respond({ taskId: followed });
    });
  });

  let warned = false;
  io.on("task:logs", (raw: unknown) => {
    const taskId = (raw as { taskId?: unknown } | null)?.taskId;
    if (typeof taskId !== "string" || (io.of("/").adapter.rooms.get(logsRoom(taskId))?.size ?? 0) === 0) return;
    const parsed = TaskLogBatchSchema.safeParse(raw);
    if (parsed.success) io.local.to(logsRoom(taskId)).emit("task:logs", parsed.data);
    else if (!warned) {
      warned = true;
      log.warn({ err: describeZodError(parsed.error) }, "ignored malformed task log lines from a worker (a worker of another version?)");
    }
  });
}

/** On a worker: a task's lines just stored, to every web node. */
export function workerTaskLogs(emitter: Emitter): InterServerEvents["task:logs"] {
  // The emitter's serverSideEmit is untyped: this holds it to the InterServerEvents contract.
  return (batch) => void emitter.serverSideEmit("task:logs", batch);
}
