import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMessage } from "../../server/tasks/task-runner";
import { readExternalMessage } from "../../server/broadcast/ingestor";

const msg = (body: string, messageId?: string) => ({ content: Buffer.from(body), properties: { messageId } as never });

test("a well-formed message keeps its id, type and payload", () => {
  assert.deepEqual(parseMessage(msg(JSON.stringify({ type: "echo", payload: { a: 1 }, id: "t1" }))), { id: "t1", type: "echo", payload: { a: 1 } });
});

test("the id falls back to the messageId property, then to a fresh uuid", () => {
  assert.equal(parseMessage(msg(JSON.stringify({ type: "echo" }), "m-1")).id, "m-1");
  assert.match(parseMessage(msg(JSON.stringify({ type: "echo" }))).id, /^[0-9a-f-]{36}$/);
});

test("a missing payload becomes an empty object", () => {
  assert.deepEqual(parseMessage(msg(JSON.stringify({ type: "sleep" }))).payload, {});
});

test("a body that is not JSON yields an error quoting its start", () => {
  const parsed = parseMessage(msg("<xml/>", "m-2"));
  assert.equal(parsed.id, "m-2");
  assert.match(parsed.error!, /not valid JSON.*<xml\/>/);
});

test("JSON that is not a task yields an error but keeps what it can", () => {
  const parsed = parseMessage(msg(JSON.stringify({ type: 5, id: "x" })));
  assert.equal(parsed.id, "x");
  assert.equal(parsed.type, "(invalid)");
  assert.match(parsed.error!, /Message is not a task/);
  assert.match(parseMessage(msg("[1]")).error!, /Message is not a task/);
});

test("outside broadcasts may be plain text or {message}; our stamped echoes are skipped", () => {
  assert.equal(readExternalMessage("hello"), "hello");
  assert.equal(readExternalMessage('{"message":"hi"}'), "hi");
  assert.equal(readExternalMessage("42"), "42");
  assert.equal(readExternalMessage('{"other":1}'), '{"other":1}');
  assert.equal(readExternalMessage(JSON.stringify({ id: "3", message: "m", source: "api", at: new Date().toISOString() })), undefined);
});
