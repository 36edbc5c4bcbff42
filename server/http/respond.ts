// How the JSON API answers: JSON bodies, query parsing with clear 400s, and Redis failures as 503s.
import type { ServerResponse } from "node:http";
import type { z } from "zod";
import type { ApiErrorBody } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import { AppError, invalidInput } from "../errors";

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/** An AppError as the API's error body. */
export function sendError(res: ServerResponse, err: AppError): void {
  sendJson(res, err.status, { error: err.message, code: err.code } satisfies ApiErrorBody);
}

export function parseQuery<S extends z.ZodType>(schema: S, url: URL): z.output<S> {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) throw invalidInput(`Invalid query: ${describeZodError(parsed.error)}.`);
  return parsed.data;
}

/** A name or id from the path; a malformed % escape is the client's mistake (400), not a failure of ours. */
export function decodePathSegment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalidInput(`The ${what} "${raw}" in the path is not valid URL encoding; encode it with encodeURIComponent.`);
  }
}

export { redisCall } from "../redis/connect";
