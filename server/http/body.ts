// Reads a JSON request body with a hard size limit, refusing oversized bodies before reading them whole.
import type { IncomingMessage } from "node:http";
import { invalidInput, tooLarge } from "../errors";

export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(`The request body is ${declared} bytes; the limit is ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(`The request body is over the limit of ${limit} bytes.`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw invalidInput("The request body is empty; send a JSON object.");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidInput(`The request body is not valid JSON (${err instanceof Error ? err.message : String(err)}).`);
  }
}
