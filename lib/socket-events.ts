// Socket.IO event maps, typed once for the web node, the worker's emitter and the browser.
import type { Broadcast, QueueStats, SendBroadcast, SubmitAck, SubmitTask, TaskRecord } from "./contract";

export interface ServerToClientEvents {
  "queue:stats": (stats: QueueStats) => void;
  "task:update": (task: TaskRecord) => void;
  broadcast: (broadcast: Broadcast) => void;
}

export interface ClientToServerEvents {
  "task:submit": (input: SubmitTask, ack: (reply: SubmitAck) => void) => void;
  "broadcast:send": (input: SendBroadcast, ack: (reply: SubmitAck) => void) => void;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface InterServerEvents {}

export interface SocketData {
  connectedAt: number;
}
