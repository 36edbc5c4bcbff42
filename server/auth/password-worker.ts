// A worker thread of a web node (see password-checker.ts): checks one password against a bcrypt hash per message.
import { compareSync } from "bcryptjs";
import { parentPort } from "node:worker_threads";

export interface CheckRequest {
  password: string;
  hash: string;
}

export type CheckReply = { ok: boolean } | { error: string };

if (!parentPort) throw new Error("password-worker runs only as a worker thread, started by password-checker.ts");
const port = parentPort;
port.on("message", ({ password, hash }: CheckRequest) => {
  let reply: CheckReply;
  try {
    reply = { ok: compareSync(password, hash) };
  } catch (err) {
    reply = { error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
