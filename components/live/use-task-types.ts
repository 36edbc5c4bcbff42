"use client";
// The task types a form offers (read again every few seconds: outside workers' types come and go with their
// workers), the chosen type, and its payload text, set to the type's example when the type is chosen.
import { useEffect, useState } from "react";
import type { TaskTypeInfo } from "@/lib/contract";
import { fetchJson } from "./fetch-json";

/** How often the types are read again (an outside worker's types appear within this). */
const TYPES_REFRESH_MS = 5000;

/** `initial`: a type and payload already chosen (an edit); otherwise the first type and its example once loaded. */
export function useTaskTypeChoice(onLoadError: (message: string) => void, initial?: { type: string; payload: string }) {
  const [types, setTypes] = useState<TaskTypeInfo[]>([]);
  const [type, setType] = useState(initial?.type ?? "");
  const [payload, setPayload] = useState(initial?.payload ?? "");
  const preset = initial !== undefined;

  useEffect(() => {
    let first = true;
    const load = () =>
      fetchJson<{ types: TaskTypeInfo[] }>("/api/task-types").then(
        ({ types: list }) => {
          setTypes(list);
          if (first && !preset && list[0]) {
            setType(list[0].name);
            setPayload(JSON.stringify(list[0].example, null, 2));
          }
          first = false;
        },
        (err: Error) => {
          if (first) onLoadError(`Could not load task types: ${err.message}`);
        },
      );
    void load();
    const timer = setInterval(() => void load(), TYPES_REFRESH_MS);
    return () => clearInterval(timer);
    // onLoadError is a state setter's wrapper: only the first load reports.
    // oxlint-disable-next-line react-hooks/exhaustive-deps
  }, [preset]);

  const chooseType = (name: string) => {
    setType(name);
    const info = types.find((t) => t.name === name);
    if (info) setPayload(JSON.stringify(info.example, null, 2));
  };
  return { types, type, chooseType, payload, setPayload };
}

/** A payload as typed in a form: `{}` when empty, else a JSON object, or why not. */
export function parsePayloadText(text: string): { payload: Record<string, unknown> } | { error: string } {
  if (text.trim() === "") return { payload: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { error: `Payload is not valid JSON: ${(err as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { error: 'Payload must be a JSON object, like {"ms": 3000}.' };
  return { payload: parsed as Record<string, unknown> };
}
