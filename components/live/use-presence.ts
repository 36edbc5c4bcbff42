"use client";
// How many tabs are connected across the cluster and per web node, as the server counts them and pushes them.
import type { Presence } from "@/lib/contract";
import { usePushed } from "./use-pushed";

export function usePresence(): Presence | undefined {
  // The server sends it on every connection (epoch null): mounted on a connection already open, it is read once.
  return usePushed("presence", "/api/presence", null, { onLoad: "replace" }).data;
}
