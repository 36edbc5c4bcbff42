// The network edges against real RabbitMQ and Redis: client addresses behind a proxy, Host and Origin checks,
// throttled authentication failures, per-address limits, error bodies and the worker's own port.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { AuditEntry } from "../../lib/auth";
import { authEnv, bearer, PASSWORDS, rawRequest, TOKENS } from "../helpers/auth";
import { eventually, startStack, type Stack } from "../helpers/stack";

/** A random address a client could write into X-Forwarded-For itself. */
const spoofed = () => `203.0.113.${1 + Math.floor(Math.random() * 250)}`;

describe("behind a trusted proxy (TRUST_PROXY=true)", () => {
  let stack: Stack;
  let url: string;
  // What nginx's $proxy_add_x_forwarded_for appends: the address it saw the client connect from.
  const REAL = "198.51.100.7";
  before(async () => {
    stack = await startStack({ workers: 0, env: { ...authEnv(), TRUST_PROXY: "true", LOGIN_ATTEMPTS_PER_MINUTE: "3", API_RATE: "1", API_BURST: "5" } });
    url = stack.nodes[0].url;
  });
  after(() => stack.close());

  test("a client that writes its own X-Forwarded-For entries is still one address: sign-in guesses and wrong tokens are throttled, and the audit log names the real address", async () => {
    const forwarded = () => ({ "X-Forwarded-For": `${spoofed()}, ${REAL}` });
    const answers: number[] = [];
    for (let i = 0; i < 4; i++) {
      answers.push((await rawRequest(url, { method: "POST", path: "/api/auth/login", headers: forwarded(), body: { username: "alice", password: `guess-${i}` } })).status);
    }
    assert.deepEqual(answers, [401, 401, 401, 429], "the fourth guess from the same real address is refused");
    const tokenAnswers: number[] = [];
    for (let i = 0; i < 8; i++) tokenAnswers.push((await rawRequest(url, { path: "/api/queue", headers: { ...forwarded(), ...bearer(randomBytes(32).toString("base64url")) } })).status);
    assert.equal(tokenAnswers.at(-1), 429, `wrong tokens past the burst: ${tokenAnswers.join(", ")}`);
    const entries = await eventually(async () => {
      const res = await rawRequest(url, { path: "/api/audit?action=auth.login_failed", headers: bearer(TOKENS.grafana) });
      return res.body.entries?.length >= 3 ? (res.body.entries as AuditEntry[]) : undefined;
    }, "the failed sign-ins in the audit log");
    assert.deepEqual([...new Set(entries.map((e) => e.ip))], [REAL]);
    // Another real client behind the same proxy is not held up.
    const other = await rawRequest(url, { method: "POST", path: "/api/auth/login", headers: { "X-Forwarded-For": `${REAL}, 198.51.100.8` }, body: { username: "alice", password: PASSWORDS.alice } });
    assert.equal(other.status, 200, other.text);
  });
});
