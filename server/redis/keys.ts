// Every Redis key and channel Taskcast uses, derived from KEY_PREFIX in one place.
export function redisKeys(prefix: string) {
  return {
    task: (id: string) => `${prefix}:task:${id}`,
    /** List of a task's handler log lines (JSON), oldest first; removed with the task's record (the record's key + ":logs"). */
    taskLogs: (id: string) => `${prefix}:task:${id}:logs`,
    /** Sorted set of all task ids, scored by creation time. */
    tasks: `${prefix}:tasks`,
    /** Sorted set of task ids in one status, scored by creation time. */
    tasksByStatus: (status: string) => `${prefix}:tasks:status:${status}`,
    /** Sorted set of finished task ids scored by finish time: what retention trims, oldest first. */
    tasksFinished: `${prefix}:tasks:finished`,
    /** Sorted set of scheduled task ids, scored by their runAt (ms): what the mover queues when due. */
    scheduled: `${prefix}:tasks:scheduled`,
    /** Sorted set of scheduled task ids being queued, scored by when the move began: a move a dead node left is done again. */
    scheduledMoving: `${prefix}:tasks:scheduled:moving`,
    /** Held (SET NX with a token and a TTL) by the one web node that queues scheduled tasks. */
    scheduledMover: `${prefix}:tasks:scheduled:mover`,
    /** Sorted set of dead, not discarded task ids, scored by creation time. */
    deadLetters: `${prefix}:tasks:dead-letters`,
    /**
     * Sorted set of the ids of summary-tracked tasks (TASK_TRACK_SUMMARY) that succeeded and whose ack RabbitMQ may
     * not have settled yet, scored by when they finished: a redelivery of one is dropped, not run again.
     */
    summaryDone: `${prefix}:summary:done`,
    /** Hash of task type → summary-tracked tasks of that type that succeeded without a record, since ever. */
    summarySucceeded: `${prefix}:summary:succeeded`,
    /** Idempotency-Key (hashed) → task id, for 24 hours. */
    idempotency: (keyHash: string) => `${prefix}:idempotency:${keyHash}`,
    /** Pub/sub channel on which web nodes ask workers to abort a running task. */
    taskCancel: `${prefix}:task:cancel`,
    /** Hash of worker id → heartbeat JSON. */
    workers: `${prefix}:workers`,
    /** Hash of task type → the queue it goes to, for the types outside workers announce (worker protocol). */
    typeQueues: `${prefix}:task-types:queues`,
    /** Set while an operator has paused the queue: JSON {by, at}. Workers of the queue take no new deliveries. */
    queuePaused: (queue: string) => `${prefix}:queue:paused:${queue}`,
    /** Pub/sub channel on which web nodes tell workers a queue was paused or resumed (they re-check every second too). */
    queuePauses: `${prefix}:queue:pauses`,
    /** Hash of schedule name → its definition (JSON, lib/schedules.ts). */
    schedules: `${prefix}:schedules`,
    /** Hash of schedule name → its last claimed tick (ms since the epoch): the compare-and-set that makes each tick fire once. */
    scheduleTicks: `${prefix}:schedules:ticks`,
    /** Hash of schedule name → its last run: JSON {tick, taskId} or {tick, error}. */
    scheduleRuns: `${prefix}:schedules:runs`,
    /** Sorted set of claimed ticks not yet queued, `name tick` scored by when the claim was made (or last retried). */
    schedulePending: `${prefix}:schedules:pending`,
    /** Held (SET NX with a token and a TTL) while a bulk action on dead letters runs on some node. */
    deadLettersBulkLock: `${prefix}:dead-letters:bulk-lock`,
    broadcastSeq: `${prefix}:broadcast:seq`,
    /**
     * Pub/sub channel on which web nodes relay stamped broadcasts to their own tabs. Internal, so under the prefix
     * (Redis ACLs can keep outside publishers to BROADCAST_CHANNEL); BROADCAST_CHANNEL itself is the public contract.
     */
    broadcastFanout: `${prefix}:broadcast:fanout`,
    broadcastHistory: `${prefix}:broadcast:history`,
    broadcastIngestor: `${prefix}:broadcast:ingestor`,
    /** Hashes of the newest outside messages the ingest lease holders recorded, newest first. */
    broadcastIngestLog: `${prefix}:broadcast:ingest-log`,
    /** Pub/sub channel on which a new ingest lease holder sends itself a marker, to know its buffer caught up. */
    broadcastIngestFence: `${prefix}:broadcast:ingest-fence`,
    /** Sorted set of channel names, scored by their last broadcast's time. */
    broadcastChannels: `${prefix}:broadcast:channels`,
    /** Hash of web node id → {connections, beatAt} JSON. */
    presence: `${prefix}:presence`,
    /** A signed-in session: JSON {user, createdAt, ip}, expiring after SESSION_TTL_HOURS without use, SESSION_MAX_HOURS after sign-in at most. */
    session: (id: string) => `${prefix}:session:${id}`,
    /** Failed sign-ins for one username (a digest of it) in the current hour: a counter that expires with its window. */
    loginFailures: (nameDigest: string) => `${prefix}:login-failures:${nameDigest}`,
    /** The cookie-signing secret shared by every web node when SESSION_SECRET is not set. */
    sessionSecret: `${prefix}:session-secret`,
    /** Stream of audit log entries but failed sign-ins, capped at AUDIT_LOG_LIMIT. */
    audit: `${prefix}:audit`,
    /** Stream of failed sign-in entries, capped at AUDIT_LOG_LIMIT on its own: a flood of them cannot trim the other. */
    auditFailedSignIns: `${prefix}:audit:failed-sign-ins`,
    /** Key (channel prefix) of the Socket.IO Redis adapter and emitter. */
    socketIo: `${prefix}:socket.io`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
