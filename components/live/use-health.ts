"use client";
// Whether the tab's web node reaches RabbitMQ and Redis: loaded on every (re)connection, then pushed as `health`.
import type { Health } from "@/lib/contract";
import { usePushed } from "./use-pushed";

// /healthz answers 503 with the same body when something is down, so read the body either way.
const loadHealth = async (): Promise<Health> => (await fetch("/healthz", { cache: "no-store" })).json() as Promise<Health>;

/** Undefined until known; a failed load leaves it as it was. */
export function useHealth(epoch: number): Health | undefined {
  return usePushed("health", loadHealth, epoch).data;
}
