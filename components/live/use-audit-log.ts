"use client";
// The audit log, newest first: a page loaded on every (re)connection and filter change, older pages on request,
// and new entries pushed live as `audit:entry` (coalesced, filtered like the page).
import { useCallback, useEffect, useState } from "react";
import { appendOlder, type AuditFilters, matchesFilters, mergeNewer, type ShownEntries } from "@/lib/audit-view";
import type { AuditEntry, AuditPage } from "@/lib/auth";
import { createBatcher } from "./batcher";
import { getSocket } from "./socket-client";
import { fetchJson } from "./fetch-json";

export const AUDIT_PAGE_SIZE = 100;

export function auditPath(filters: AuditFilters, before?: string | null): string {
  const params = new URLSearchParams({ limit: String(AUDIT_PAGE_SIZE) });
  if (filters.action) params.set("action", filters.action);
  if (filters.actor) params.set("actor", filters.actor);
  if (before) params.set("before", before);
  return `/api/audit?${params}`;
}

export interface AuditLogState {
  shown?: ShownEntries;
  /** From a change of filters or connection until its answer arrives. */
  loading: boolean;
  error?: string;
  loadingOlder: boolean;
  olderError?: string;
  loadOlder: () => void;
}

export function useAuditLog(filters: AuditFilters, epoch: number): AuditLogState {
  const { action, actor } = filters;
  // `key` names the request the state answers; while it differs from the current one, a load is under way.
  const key = JSON.stringify([action, actor, epoch]);
  const [state, setState] = useState<{ shown?: ShownEntries; error?: string; key?: string }>({});
  const [older, setOlder] = useState<{ key?: string; loading: boolean; error?: string }>({ loading: false });

  useEffect(() => {
    if (epoch === 0) return;
    const socket = getSocket();
    let current = true;
    const active = { action, actor };
    // Entries that arrive before the page has loaded wait for it, so none is lost.
    let pending: AuditEntry[] | undefined = [];
    const apply = (entries: AuditEntry[]) => setState((s) => (s.shown && s.key === key ? { ...s, shown: mergeNewer(s.shown, entries) } : s));
    const batcher = createBatcher<AuditEntry>((entries) => (pending ? pending.push(...entries) : apply(entries)));
    const onEntry = (entry: AuditEntry) => {
      if (matchesFilters(entry, active)) batcher.push(entry);
    };
    socket.on("audit:entry", onEntry);
    fetchJson<AuditPage>(auditPath(active)).then(
      (page) => {
        if (!current) return;
        setState({ shown: mergeNewer({ entries: page.entries, nextBefore: page.nextBefore }, pending ?? []), key });
        pending = undefined;
      },
      (err: Error) => current && setState((s) => ({ ...s, error: err.message, key })),
    );
    return () => {
      current = false;
      socket.off("audit:entry", onEntry);
      batcher.cancel();
    };
  }, [action, actor, epoch, key]);

  const nextBefore = state.key === key ? state.shown?.nextBefore : null;
  const loadOlder = useCallback(() => {
    if (!nextBefore) return;
    const asked = key;
    setOlder({ key: asked, loading: true });
    fetchJson<AuditPage>(auditPath({ action, actor }, nextBefore)).then(
      (page) => {
        setState((s) => (s.shown && s.key === asked ? { ...s, shown: appendOlder(s.shown, page) } : s));
        setOlder({ key: asked, loading: false });
      },
      (err: Error) => setOlder({ key: asked, loading: false, error: err.message }),
    );
  }, [action, actor, key, nextBefore]);

  const olderNow = older.key === key ? older : { loading: false, error: undefined };
  return { shown: state.shown, error: state.error, loading: state.key !== key, loadingOlder: olderNow.loading, olderError: olderNow.error, loadOlder };
}
