"use client";
// Makes the tab receive a live stream while the calling component is mounted (see followStream).
import { useEffect } from "react";
import type { LiveStream } from "@/lib/contract";
import { followStream } from "./socket-client";

/** `stream` undefined: nothing to follow (an event that always arrives). */
export function useStream(stream: LiveStream | undefined): void {
  useEffect(() => (stream ? followStream(stream) : undefined), [stream]);
}
