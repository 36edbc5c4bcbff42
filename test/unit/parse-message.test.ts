import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMessage } from "../../server/queue/task-message";
import { matchedResumePoint, readExternalMessage } from "../../server/broadcast/ingestor";

const msg = (body: string, messageId?: string) => ({ content: Buffer.from(body), properties: { messageId } as never });

test("a well-formed message keeps its id, type and payload", () => {
  assert.deepEqual(parseMessage(msg(JSON.stringify({ type: "echo", payload: { a: 1 }, id: "t1" }))), { id: "t1", type: "echo", payload: { a: 1 }, run: 1 });
});

test("runAt or delayMs ask to run later: the message carries the time; a bad one is an unusable message", () => {
  const before = Date.now();
  const delayed = parseMessage(msg(JSON.stringify({ type: "echo", id: "t2", delayMs: 5000 })));
  assert.equal(delayed.error, undefined);
  assert.ok(Date.parse(delayed.runAt!) >= before + 5000 && Date.parse(delayed.runAt!) <= Date.now() + 5000);
  const at = new Date(Date.now() + 60_000).toISOString();
  assert.equal(parseMessage(msg(JSON.stringify({ type: "echo", runAt: at }))).runAt, at);
  assert.match(parseMessage(msg(JSON.stringify({ type: "echo", runAt: at, delayMs: 5 }))).error!, /either runAt or delayMs, not both/);
  // Past when read (it waited in the queue): it runs now, no error.
  assert.deepEqual(parseMessage(msg(JSON.stringify({ type: "echo", id: "t3", runAt: "2020-01-01T00:00:00Z" }))), { id: "t3", type: "echo", payload: {}, run: 1 });
  assert.match(parseMessage(msg(JSON.stringify({ type: "echo", delayMs: 31 * 24 * 3_600_000 }))).error!, /delayMs must be at most/);
  assert.equal(parseMessage(msg(JSON.stringify({ type: "echo" }))).runAt, undefined);
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
  const general = (message: string) => ({ message, channel: "general" });
  assert.deepEqual(readExternalMessage("hello"), general("hello"));
  assert.deepEqual(readExternalMessage('{"message":"hi"}'), general("hi"));
  assert.deepEqual(readExternalMessage('{"message":"hi","channel":"ops"}'), { message: "hi", channel: "ops" });
  assert.deepEqual(readExternalMessage('{"message":"hi","channel":"no spaces"}'), { error: 'invalid channel "no spaces"' });
  assert.deepEqual(readExternalMessage("42"), general("42"));
  assert.deepEqual(readExternalMessage('{"other":1}'), general('{"other":1}'));
  assert.equal(readExternalMessage(JSON.stringify({ id: "3", message: "m", source: "api", at: new Date().toISOString() })), undefined);
  assert.equal(readExternalMessage(JSON.stringify({ id: "4", message: "m", channel: "ops", source: "api", at: new Date().toISOString() })), undefined);
});

test("a new ingest lease holder resumes right after the last message the previous one recorded", () => {
  const buffer = ["a", "b", "c", "a", "b", "d"].map((hash, i) => ({ seq: 10 + i, hash }));
  // The previous holder recorded up to the second "b" (seq 14): resume at 15.
  assert.equal(matchedResumePoint(buffer, ["c", "a", "b"], 16), 15);
  // It recorded everything: nothing pending.
  assert.equal(matchedResumePoint(buffer, ["b", "d"], 16), 16);
  // Nothing this node saw matches (yet): the holder waits for a match before it starts from its buffer's start.
  assert.equal(matchedResumePoint(buffer, ["x", "y"], 16), undefined);
  // The log's tail starts before this node's buffer did.
  assert.equal(matchedResumePoint(buffer, ["z", "a", "b", "c"], 16), 13);
  // No one ever recorded anything.
  assert.equal(matchedResumePoint(buffer, [], 16), 10);
  assert.equal(matchedResumePoint([], ["a"], 16), undefined);
});

test("the run comes from the x-taskcast-run header; without a valid one the message is run 1", () => {
  const withHeader = (headers: Record<string, unknown>) => ({ content: Buffer.from(JSON.stringify({ type: "echo" })), properties: { messageId: "m", headers } as never });
  assert.equal(parseMessage(withHeader({ "x-taskcast-run": 3 })).run, 3);
  for (const bad of [0, -1, 1.5, "2", null]) assert.equal(parseMessage(withHeader({ "x-taskcast-run": bad })).run, 1, String(bad));
  assert.equal(parseMessage(withHeader({})).run, 1);
});
