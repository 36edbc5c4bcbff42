"use client";
// One page of task search results, reloaded on every (re)connection and kept current by `task:update`, coalesced.
import { useEffect, useState } from "react";
import type { TaskRecord } from "@/lib/contract";
import { createBatcher } from "./batcher";
import { getSocket } from "./socket-client";
import { applyTaskUpdates, SEARCH_PAGE_SIZE, type TaskSearchFilters, type TaskSearchResult } from "@/lib/task-search";
import { fetchJson } from "./fetch-json";
import { useStream } from "./use-stream";

export interface TaskSearchState {
  page?: TaskSearchResult;
  /** True from a change of filters, page or connection until its answer arrives. */
  loading: boolean;
  error?: string;
}

export function searchPath(filters: TaskSearchFilters, cursor: string | undefined, limit = SEARCH_PAGE_SIZE): string {
  const params = new URLSearchParams();
  if (filters.status) params.set("status", filters.status);
  if (filters.type) params.set("type", filters.type);
  if (filters.q) params.set("q", filters.q);
  if (cursor) params.set("cursor", cursor);
  params.set("limit", String(limit));
  return `/api/tasks/search?${params}`;
}

export function useTaskSearch(filters: TaskSearchFilters, cursor: string | undefined, epoch: number): TaskSearchState {
  // `key` names the request the page answers; while it differs from the current one, a load is under way.
  const [state, setState] = useState<{ page?: TaskSearchResult; error?: string; key?: string }>({});
  const { status, type, q } = filters;
  useStream("tasks");
  const key = JSON.stringify([status, type, q, cursor, epoch]);

  useEffect(() => {
    if (epoch === 0) return;
    const socket = getSocket();
    let current = true;
    const active = { status, type, q };
    // Events that arrive before the page has loaded wait for it, so none is lost.
    let pending: TaskRecord[] | undefined = [];
    const apply = (records: TaskRecord[]) =>
      setState((s) => (s.page ? { ...s, page: applyTaskUpdates(s.page, records, active, { after: cursor, limit: SEARCH_PAGE_SIZE }) } : s));
    const batcher = createBatcher<TaskRecord>((records) => (pending ? pending.push(...records) : apply(records)));
    const onUpdate = (record: TaskRecord) => batcher.push(record);
    socket.on("task:update", onUpdate);
    fetchJson<TaskSearchResult>(searchPath(active, cursor)).then(
      (page) => {
        if (!current) return;
        setState({ page: applyTaskUpdates(page, pending ?? [], active, { after: cursor, limit: SEARCH_PAGE_SIZE }), key });
        pending = undefined;
      },
      (err: Error) => current && setState((s) => ({ ...s, error: err.message, key })),
    );
    return () => {
      current = false;
      socket.off("task:update", onUpdate);
      batcher.cancel();
    };
  }, [status, type, q, cursor, epoch, key]);

  return { page: state.page, error: state.error, loading: state.key !== key };
}
