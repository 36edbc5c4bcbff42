// The audit log page's view: action labels, who did it, and the newest-first list that live entries join.
import type { AuditAction, AuditEntry } from "./auth";

export const ACTION_LABELS: Record<AuditAction, string> = {
  "task.submit": "Submitted a task",
  "task.submit_batch": "Submitted a batch",
  "broadcast.send": "Broadcast",
  "task.cancel": "Cancelled",
  "task.retry": "Retried",
  "task.discard": "Discarded",
  "dead-letters.retry": "Retried dead letters",
  "dead-letters.discard": "Discarded dead letters",
  "queue.pause": "Paused a queue",
  "queue.resume": "Resumed a queue",
  "schedule.create": "Created a schedule",
  "schedule.update": "Changed a schedule",
  "schedule.delete": "Deleted a schedule",
  "auth.login": "Signed in",
  "auth.login_failed": "Failed sign-in",
  "auth.logout": "Signed out",
};

/** "alice (operator)", "token ci-bot (operator)", "local (operator)", "mallory (not signed in)". */
export function formatActor(actor: AuditEntry["actor"]): string {
  const role = actor.role ?? "not signed in";
  if (actor.kind === "token") return `token ${actor.name} (${role})`;
  return `${actor.name} (${role})`;
}

/** Whether the entry's target is a task id (and so links to the task's page). */
export const targetsTask = (action: AuditAction) => action.startsWith("task.");

/** Orders Redis stream ids ("1732480000000-3") by time, then sequence. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as = 0] = a.split("-").map(Number);
  const [bm, bs = 0] = b.split("-").map(Number);
  return am - bm || as - bs;
}

export interface AuditFilters {
  action?: AuditAction;
  /** A name, exactly (a user's or a token's). */
  actor?: string;
}

export const matchesFilters = (entry: AuditEntry, filters: AuditFilters) =>
  (!filters.action || entry.action === filters.action) && (!filters.actor || entry.actor.name === filters.actor);

/** Live entries stop the page growing past this many; the oldest shown go (Load older brings them back). */
export const AUDIT_SHOWN_MAX = 1000;

export interface ShownEntries {
  entries: AuditEntry[];
  /** Where Load older continues from; null when the oldest entry is shown. */
  nextBefore: string | null;
}

/** Newer entries merged in at the top, once each by id, capped to `max` (Load older then continues after the last kept). */
export function mergeNewer(shown: ShownEntries, incoming: readonly AuditEntry[], max = AUDIT_SHOWN_MAX): ShownEntries {
  const seen = new Set(shown.entries.map((e) => e.id));
  const fresh = incoming.filter((e) => !seen.has(e.id) && seen.add(e.id));
  if (fresh.length === 0) return shown;
  const entries = [...fresh, ...shown.entries].sort((a, b) => compareStreamIds(b.id, a.id));
  if (entries.length <= max) return { ...shown, entries };
  const kept = entries.slice(0, max);
  return { entries: kept, nextBefore: kept.at(-1)!.id };
}

/** An older page appended at the bottom, without the entries already shown. */
export function appendOlder(shown: ShownEntries, page: ShownEntries): ShownEntries {
  const seen = new Set(shown.entries.map((e) => e.id));
  return { entries: [...shown.entries, ...page.entries.filter((e) => !seen.has(e.id))], nextBefore: page.nextBefore };
}
