// Waiting with a limit: a promise, or a rejection once a deadline passes without its answer.

/**
 * `work`, or the error `onTimeout` makes once `ms` have passed without its answer. The work itself goes on:
 * callers undo what they can. The timer never keeps the process alive.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
