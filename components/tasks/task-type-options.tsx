// The options of a task type select: each type (an outside worker's with its queue), and `current` kept even
// when no live worker offers it any more (a schedule's type whose worker is gone).
import type { TaskTypeInfo } from "@/lib/contract";

export function TaskTypeOptions({ types, current }: { types: TaskTypeInfo[]; current?: string }) {
  return (
    <>
      {current && !types.some((t) => t.name === current) && <option value={current}>{current}</option>}
      {types.map((t) => (
        <option key={t.name} value={t.name} title={t.description}>
          {t.queue ? `${t.name} (${t.queue})` : t.name}
        </option>
      ))}
    </>
  );
}
