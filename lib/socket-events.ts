// Socket.IO event maps, typed once for the web node, the worker's emitter and the browser, and the event of each live stream.
import type { AuditEntry, Principal } from "./auth";
import type { StatsSeries, WebNodeList, WorkerList } from "./insights";
import type { ScheduleList } from "./schedules";
import type { TaskLogBatch } from "./task-logs";
import type { BatchSubmitAck, DeadLetterBulkProgress, Health, Broadcast, BroadcastCatchUp, BroadcastSubscription, ChannelList, LiveStream, Presence, QueueList, QueueStats, SendBroadcast, SocketSubmitBatch, SocketSubmitTask, SubmitAck, TaskRecord, TaskSubmitAck } from "./contract";

export interface ServerToClientEvents {
  "queue:stats": (stats: QueueStats) => void;
  /** Every known queue's depth (shape of GET /api/queues), pushed when it changes. */
  "queues:stats": (list: QueueList) => void;
  "task:update": (task: TaskRecord) => void;
  /** New log lines of the task the socket follows with `task:logs:follow`, oldest first. */
  "task:logs": (batch: TaskLogBatch) => void;
  broadcast: (broadcast: Broadcast) => void;
  /** On every connection: what the tab missed (see BroadcastSubscription in the handshake). */
  "broadcast:catchup": (catchUp: BroadcastCatchUp) => void;
  "broadcast:channels": (list: ChannelList) => void;
  presence: (presence: Presence) => void;
  /** Whether this web node reaches RabbitMQ and Redis (shape of GET /healthz); pushed when it changes. */
  health: (health: Health) => void;
  /** The workers list, computed once a second per web node. */
  "workers:update": (list: WorkerList) => void;
  /** Web nodes with their tabs and broadcast relay lag, computed once a second per web node. */
  "web-nodes:update": (list: WebNodeList) => void;
  /** The newest seconds of every activity series, read once a second per web node; tabs merge them in. */
  "stats:tick": (recent: StatsSeries) => void;
  /** Each new audit log entry, as it is written on any node. */
  "audit:entry": (entry: AuditEntry) => void;
  /** Progress of an operator's bulk retry or discard of dead letters, after each batch, on every node. */
  "deadLetters:progress": (progress: DeadLetterBulkProgress) => void;
  /** Every recurring schedule with its next and last run (shape of GET /api/schedules), pushed when any changes or runs. */
  "schedules:update": (list: ScheduleList) => void;
}

/** The event that carries each live stream: a socket receives an event of this map only while it follows its stream. */
export const STREAM_EVENTS = {
  tasks: "task:update",
  queue: "queue:stats",
  queues: "queues:stats",
  workers: "workers:update",
  "web-nodes": "web-nodes:update",
  stats: "stats:tick",
  presence: "presence",
  health: "health",
  channels: "broadcast:channels",
  schedules: "schedules:update",
} as const satisfies Record<LiveStream, keyof ServerToClientEvents>;
export type StreamEvent<S extends LiveStream = LiveStream> = (typeof STREAM_EVENTS)[S];
/** The value a stream's event carries. */
export type StreamValue<S extends LiveStream> = Parameters<ServerToClientEvents[StreamEvent<S>]>[0];

/** The stream an event belongs to, or undefined for the events that always arrive (broadcasts, audit entries). */
export function streamOfEvent(event: keyof ServerToClientEvents): LiveStream | undefined {
  return (Object.keys(STREAM_EVENTS) as LiveStream[]).find((stream) => STREAM_EVENTS[stream] === event);
}

/** Reply of `broadcast:follow`: the recent history of the channels now followed, or an error. */
export type FollowAck = BroadcastCatchUp | { error: string };

/** Reply of `task:logs:follow`: the task whose lines the socket now receives, or an error. */
export type TaskLogsFollowAck = { taskId: string | null } | { error: string };

/** Reply of `streams:follow`: every stream the socket now receives, or an error naming the valid streams. */
export type StreamsAck = { streams: LiveStream[] } | { error: string };

export interface ClientToServerEvents {
  /** The same rules and answers as `POST /api/tasks` (one submission function serves both). */
  "task:submit": (input: SocketSubmitTask, ack: (reply: TaskSubmitAck) => void) => void;
  /** The same rules and answers as `POST /api/tasks/batch`: 1 to 1,000 tasks, all queued or none. */
  "task:submitBatch": (input: SocketSubmitBatch, ack: (reply: BatchSubmitAck) => void) => void;
  "broadcast:send": (input: SendBroadcast, ack: (reply: SubmitAck) => void) => void;
  /** Follow only these channels from now on (null: all). */
  "broadcast:follow": (channels: string[] | null, ack: (reply: FollowAck) => void) => void;
  /** Receive only these live streams from now on (null: all), replacing the socket's selection. */
  "streams:follow": (streams: LiveStream[] | null, ack: (reply: StreamsAck) => void) => void;
  /** Receive `task:logs` for this task from now on (null: for none), instead of the task followed before. */
  "task:logs:follow": (taskId: string | null, ack: (reply: TaskLogsFollowAck) => void) => void;
}

/** Between web nodes and workers, through the Redis adapter (the workers' emitter uses serverSideEmit). */
export interface InterServerEvents {
  /** Task records written by a worker, newest version of each, as live copies; each node emits them to its own tabs. */
  "task:updates": (records: TaskRecord[]) => void;
  /** Log lines a worker just stored for one task; each node emits them to its own tabs that follow that task's logs. */
  "task:logs": (batch: TaskLogBatch) => void;
}

export interface SocketData {
  connectedAt: number;
  subscription: BroadcastSubscription;
  /** The live streams the socket receives (it is in their rooms): from its handshake, then `streams:follow`. */
  streams: LiveStream[];
  /** Who the connection acts for (checked at the handshake). */
  principal: Principal;
  /** The sign-in session behind a cookie-authenticated connection. */
  sessionId: string | null;
  ip: string;
}
