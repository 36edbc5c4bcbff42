// Errors of the task operations: a Redis failure becomes a clear 503, a refused change a 409.
import { withinDeadline } from "../redis/connect";
import { AppError, messageOf, unavailable } from "../errors";

export const conflict = (message: string) => new AppError(409, "conflict", message);

/** Runs a Redis call; a failure answers 503 and says that nothing was changed. */
export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await withinDeadline(fn());
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw unavailable(`Redis is not reachable, so nothing was changed (${messageOf(err)}). Try again.`);
  }
}
