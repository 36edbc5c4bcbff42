"use client";
// Whether the tab's web node reaches RabbitMQ and Redis: loaded on every (re)connection, then pushed as `health`.
import { useEffect, useState } from "react";
import type { Health } from "@/lib/contract";
import { getSocket } from "./socket-client";

export function useHealth(epoch: number): Health | undefined {
  const [health, setHealth] = useState<Health>();
  useEffect(() => {
    const socket = getSocket();
    let cancelled = false;
    const onHealth = (h: Health) => setHealth(h);
    socket.on("health", onHealth);
    if (epoch > 0) {
      // /healthz answers 503 with the same body when something is down, so read the body either way.
      fetch("/healthz", { cache: "no-store" })
        .then((res) => res.json() as Promise<Health>)
        .then((h) => !cancelled && setHealth((current) => current ?? h))
        .catch(() => undefined);
    }
    return () => {
      cancelled = true;
      socket.off("health", onHealth);
    };
  }, [epoch]);
  return health;
}
