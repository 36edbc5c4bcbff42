// Users, tokens and raw HTTP for the security tests: a fresh password and token set per run, sign-in helpers,
// and requests with headers fetch() will not send (Host, chunked bodies that never end).
import { hashSync } from "bcryptjs";
import { randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";

/** Random per run, so a passing test cannot depend on a well-known secret. */
export const PASSWORDS = { alice: `alice-${randomBytes(9).toString("base64url")}`, bob: `bob-${randomBytes(9).toString("base64url")}` };
export const TOKENS = { ci: randomBytes(32).toString("base64url"), grafana: randomBytes(32).toString("base64url") };

/**
 * TASKCAST_USERS (alice: operator, bob: viewer; bcrypt cost 10, the lowest a web node accepts) and TASKCAST_TOKENS
 * (ci: operator, grafana: viewer), plus `extraTokens` entries `name:role:token`.
 */
export function authEnv(extraTokens: string[] = []): Record<string, string> {
  return {
    TASKCAST_USERS: `alice:operator:${hashSync(PASSWORDS.alice, 10)},bob:viewer:${hashSync(PASSWORDS.bob, 10)}`,
    TASKCAST_TOKENS: [`ci:operator:${TOKENS.ci}`, `grafana:viewer:${TOKENS.grafana}`, ...extraTokens].join(","),
  };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // oxlint-disable-next-line typescript/no-explicit-any -- tests read any JSON body
  body: any;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** A string is sent as is, anything else as JSON. */
  body?: unknown;
  /**
   * Send this many bytes of body in 16 KiB chunks without Content-Length (chunked), and never end the body:
   * the response can only arrive if the server refuses before reading it whole.
   */
  endlessBody?: number;
}

/** One request with full control of its headers; resolves with the response, body included. */
export function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(req.path, baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      payload = Buffer.from(typeof req.body === "string" ? req.body : JSON.stringify(req.body));
      headers["Content-Type"] ??= "application/json";
      headers["Content-Length"] ??= String(payload.length);
    }
    const outgoing = httpRequest(url, { method: req.method ?? "GET", headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* keep the text */
        }
        outgoing.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    // The server may close the connection while the body is still going out; the response is what counts.
    outgoing.on("error", (err) => (outgoing.writableEnded || req.endlessBody !== undefined ? undefined : reject(err)));
    if (req.endlessBody !== undefined) {
      const chunk = Buffer.alloc(16 * 1024, "x");
      for (let sent = 0; sent < req.endlessBody; sent += chunk.length) outgoing.write(chunk);
      return; // never end()
    }
    outgoing.end(payload);
  });
}

/** Signs in through POST /api/auth/login and returns the `name=value` cookie to send back. */
export async function signIn(baseUrl: string, username: string, password: string): Promise<string> {
  const res = await rawRequest(baseUrl, { method: "POST", path: "/api/auth/login", body: { username, password } });
  if (res.status !== 200) throw new Error(`sign-in as ${username} answered ${res.status}: ${res.text}`);
  return sessionCookie(res);
}

/** The `taskcast_session=…` pair from a response's Set-Cookie. */
export function sessionCookie(res: RawResponse): string {
  const header = (res.headers["set-cookie"] ?? []).find((c) => c.startsWith("taskcast_session="));
  if (!header) throw new Error(`no session cookie in ${JSON.stringify(res.headers["set-cookie"])}`);
  return header.split(";")[0];
}

/** The origin a browser on the node's own page sends. */
export const originOf = (baseUrl: string) => new URL(baseUrl).origin;
