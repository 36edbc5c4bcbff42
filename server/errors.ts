// Errors that carry an HTTP status and a machine-readable code; the message tells the user what to do.

/**
 * An error the client is told about. `message` is sent to clients: it says what to do, never where a broker is or
 * what its driver said; that goes in `cause`, which only the logs see (logClientError).
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const invalidInput = (message: string) => new AppError(400, "invalid_input", message);
export const notFound = (message: string) => new AppError(404, "not_found", message);
export const tooLarge = (message: string) => new AppError(413, "too_large", message);
/** 503: a broker is unreachable or refused; `cause` (the driver's error, the broker's address) goes to the logs only. */
export const unavailable = (message: string, cause?: unknown) => new AppError(503, "unavailable", message, cause === undefined ? undefined : { cause });
export const conflict = (message: string) => new AppError(409, "conflict", message);

/** The message of any thrown value. */
export const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
