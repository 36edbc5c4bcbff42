// Collects a burst of events and hands them over together, at most once per `intervalMs`.
export function createBatcher<T>(flush: (items: T[]) => void, intervalMs = 100) {
  let items: T[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = () => {
    timer = undefined;
    const batch = items;
    items = [];
    if (batch.length > 0) flush(batch);
  };
  return {
    push(item: T) {
      items.push(item);
      timer ??= setTimeout(run, intervalMs);
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      items = [];
    },
  };
}
