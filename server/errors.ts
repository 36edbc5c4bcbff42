// Errors that carry an HTTP status and a machine-readable code; the message tells the user what to do.
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const invalidInput = (message: string) => new AppError(400, "invalid_input", message);
export const notFound = (message: string) => new AppError(404, "not_found", message);
export const tooLarge = (message: string) => new AppError(413, "too_large", message);
export const unavailable = (message: string) => new AppError(503, "unavailable", message);
export const conflict = (message: string) => new AppError(409, "conflict", message);

/** The message of any thrown value. */
export const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
