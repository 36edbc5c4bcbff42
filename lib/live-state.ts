// Pure merging of live data in the browser: snapshots and events may arrive in any order and more than once.
import { DEFAULT_BROADCAST_CHANNEL, isFinished, type Broadcast, type BroadcastCatchUp, type TaskRecord } from "./contract";
import { isDeadLetter } from "./task-lifecycle";

/** Most task records a tab keeps; the oldest finished ones go first, undiscarded dead letters last. */
export const MAX_TASKS_IN_TAB = 500;
/** Most broadcasts a tab keeps. */
export const MAX_BROADCASTS_IN_TAB = 200;

/** Adds records to the map, keeping for each id the copy with the highest version. Returns a new map. */
export function mergeTasks(current: ReadonlyMap<string, TaskRecord>, incoming: readonly TaskRecord[], cap = MAX_TASKS_IN_TAB): Map<string, TaskRecord> {
  const next = new Map(current);
  for (const record of incoming) {
    const known = next.get(record.id);
    if (!known || known.version < record.version) next.set(record.id, record);
  }
  if (next.size <= cap) return next;
  // Drop the oldest finished records first, dead letters awaiting an operator only after all others; live ones stay visible.
  const removable = [...next.values()]
    .filter((t) => isFinished(t.status))
    .sort((a, b) => Number(isDeadLetter(a)) - Number(isDeadLetter(b)) || a.createdAt.localeCompare(b.createdAt));
  for (const record of removable) {
    if (next.size <= cap) break;
    next.delete(record.id);
  }
  return next;
}

/** Newest first. */
export function sortTasks(tasks: Iterable<TaskRecord>): TaskRecord[] {
  return [...tasks].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
}

/** The dead-letter list as a view of the task records: dead, undiscarded, the most recently dead first. */
export function deadLetters(tasks: Iterable<TaskRecord>): TaskRecord[] {
  const when = (t: TaskRecord) => t.finishedAt ?? t.createdAt;
  return [...tasks].filter(isDeadLetter).sort((a, b) => when(b).localeCompare(when(a)) || b.id.localeCompare(a.id));
}

/**
 * Ids the tab shows as live or as dead letters that no snapshot just loaded confirmed: they may have changed
 * while the tab was disconnected (events missed then are lost), so the tab asks for them one by one.
 */
export function unconfirmedIds(current: ReadonlyMap<string, TaskRecord>, snapshot: readonly TaskRecord[], max = 50): string[] {
  const confirmed = new Set(snapshot.map((t) => t.id));
  const ids: string[] = [];
  for (const task of current.values()) {
    if (ids.length >= max) break;
    if (!confirmed.has(task.id) && (!isFinished(task.status) || isDeadLetter(task))) ids.push(task.id);
  }
  return ids;
}

/** Adds broadcasts, without duplicates, newest (highest id) first, at most `cap`. */
export function mergeBroadcasts(current: readonly Broadcast[], incoming: readonly Broadcast[], cap = MAX_BROADCASTS_IN_TAB): Broadcast[] {
  const byId = new Map(current.map((b) => [b.id, b]));
  for (const b of incoming) byId.set(b.id, b);
  return [...byId.values()].sort((a, b) => compareIds(b.id, a.id)).slice(0, cap);
}

/** Broadcast ids are decimal counters; compare them as numbers of any length. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Whether a broadcast belongs to the followed channels (null: all). */
export function isFollowed(broadcast: Broadcast, followed: readonly string[] | null): boolean {
  return followed === null || followed.includes(broadcast.channel);
}

/**
 * The feed after a change of followed channels: the server's recent history of the new set, plus what arrived
 * live after that history was read (newer than its `latestId`) in the new set; the rest goes.
 */
export function feedAfterFollow(current: readonly Broadcast[], catchUp: BroadcastCatchUp, followed: readonly string[] | null, cap = MAX_BROADCASTS_IN_TAB): Broadcast[] {
  const newer = current.filter((b) => isFollowed(b, followed) && (catchUp.latestId === null || compareIds(b.id, catchUp.latestId) > 0));
  return mergeBroadcasts(newer, catchUp.broadcasts.filter((b) => isFollowed(b, followed)), cap);
}

/**
 * The channels a tab offers: "general" first, then the others alphabetically (the server's list, the followed
 * ones and those the user added), without duplicates.
 */
export function offeredChannels(...sources: ReadonlyArray<readonly string[] | null>): string[] {
  const others = new Set<string>();
  for (const source of sources) for (const c of source ?? []) if (c !== DEFAULT_BROADCAST_CHANNEL) others.add(c);
  return [DEFAULT_BROADCAST_CHANNEL, ...[...others].sort((a, b) => a.localeCompare(b))];
}

/**
 * The followed set after one channel's box is ticked or cleared. Clearing one while following all keeps
 * every other offered channel; ticking one while following all changes nothing.
 */
export function toggleChannel(followed: readonly string[] | null, offered: readonly string[], channel: string, on: boolean): string[] | null {
  if (followed === null) return on ? null : offered.filter((c) => c !== channel);
  if (on) return followed.includes(channel) ? [...followed] : [...followed, channel];
  return followed.filter((c) => c !== channel);
}
