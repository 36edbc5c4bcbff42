// The web node's live-event bus: services say what changed; the Socket.IO relays and the metrics listen.
// Services never hold the Socket.IO server, so they can be built (and tested) before it exists.
import { EventEmitter } from "node:events";
import type { AuditEntry } from "../lib/auth";
import type { Broadcast, DeadLetterBulkProgress, QueueList, QueueStats, TaskRecord } from "../lib/contract";
import type { WorkerList } from "../lib/insights";
import type { MalformedKind } from "../lib/worker-protocol";

export interface LiveEventMap {
  /** A task record this node changed (submitted, cancelled, retried, discarded, stalled): every tab on every node sees it. */
  "task:changed": [record: TaskRecord];
  /** A task this node queued (not an idempotent replay). */
  "task:submitted": [record: TaskRecord];
  /** An audit entry this node wrote. */
  "audit:recorded": [entry: AuditEntry];
  /** A broadcast this node recorded (from the dashboard, the API or an outside PUBLISH it ingested). */
  "broadcast:logged": [broadcast: Broadcast];
  /** The task queue's depth, read by this node once a second. */
  "queue:sampled": [stats: QueueStats];
  /** Every known queue's depth (TASK_QUEUE first), read in the same sample. */
  "queues:sampled": [list: QueueList];
  /** This node's workers list, computed once a second. */
  "workers:listed": [list: WorkerList];
  /** An outside worker's event this node refused (malformed, unknown task, no sense for the record) or could not apply. */
  "worker-event:refused": [reason: MalformedKind | "unapplied"];
  /** A sign-in session ended (signed out): its sockets close on every node. */
  "session:ended": [sessionId: string];
  /** Progress of a bulk action on dead letters this node runs: every tab on every node sees it. */
  "dead-letters:progress": [progress: DeadLetterBulkProgress];
  /** This node changed the schedules (an operator's write) or their runs (a tick it queued). */
  "schedules:changed": [];
}

export class LiveEvents extends EventEmitter<LiveEventMap> {}
