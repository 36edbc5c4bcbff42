// Every Redis key and channel Taskcast uses, derived from KEY_PREFIX in one place.
export function redisKeys(prefix: string) {
  return {
    task: (id: string) => `${prefix}:task:${id}`,
    /** Sorted set of all task ids, scored by creation time. */
    tasks: `${prefix}:tasks`,
    /** Sorted set of task ids in one status, scored by creation time. */
    tasksByStatus: (status: string) => `${prefix}:tasks:status:${status}`,
    /** Hash of worker id → heartbeat JSON. */
    workers: `${prefix}:workers`,
    broadcastSeq: `${prefix}:broadcast:seq`,
    broadcastHistory: `${prefix}:broadcast:history`,
    broadcastIngestor: `${prefix}:broadcast:ingestor`,
    /** Key (channel prefix) of the Socket.IO Redis adapter and emitter. */
    socketIo: `${prefix}:socket.io`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
