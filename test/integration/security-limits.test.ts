// Security against real RabbitMQ and Redis, part two: what one client may cost the service (requests charged by
// the records they read, sockets per user or token), sockets whose sign-in ended, idempotency keys per client,
// malformed task ids, and the internal fan-out channel under KEY_PREFIX.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { authEnv, bearer, rawRequest, TOKENS } from "../helpers/auth";
import { startStack, type Stack } from "../helpers/stack";

/** A second operator token, so two clients can use the same Idempotency-Key. */
const OTHER_OPERATOR = randomBytes(32).toString("base64url");

describe("one client cannot reach into another's requests or break the API with a malformed id", () => {
  let stack: Stack;
  let url: string;
  before(async () => {
    stack = await startStack({ workers: 0, env: authEnv([`deploy-bot:operator:${OTHER_OPERATOR}`]) });
    url = stack.nodes[0].url;
  });
  after(() => stack.close());

  test("a task id with a malformed % escape is a 400 that says so, on GET and on every action", async () => {
    const operator = bearer(TOKENS.ci);
    for (const [method, path] of [
      ["GET", "/api/tasks/%E0%A4%A"],
      ["GET", "/api/tasks/abc%"],
      ["POST", "/api/tasks/%E0%A4%A/cancel"],
      ["POST", "/api/tasks/%/retry"],
      ["POST", "/api/tasks/%ZZ/discard"],
    ]) {
      const res = await rawRequest(url, { method, path, headers: operator, body: method === "POST" ? {} : undefined });
      assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.code, "invalid_input");
      assert.match(res.body.error, /task id .*is not valid URL encoding/i);
    }
    // A well-formed escape still reaches the task (and finds none).
    const missing = await rawRequest(url, { path: "/api/tasks/no%20such", headers: operator });
    assert.equal(missing.status, 404, missing.text);
  });

});
