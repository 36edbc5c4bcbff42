// Where a node that takes over the broadcast ingest lease resumes in its buffer of raw messages.
import assert from "node:assert/strict";
import { test } from "node:test";
import { hashOf, isRecordable, matchedResumePoint } from "../../server/broadcast/ingestor";

const MAX_BYTES = 4096;
const echo = (id: number, message: string) => JSON.stringify({ id: String(id), message, channel: "general", source: "api", at: new Date().toISOString() });

/** A buffer of raw messages starting at sequence number `first`, as a node keeps it. */
const buffered = (raws: string[], first = 100) => raws.map((raw, i) => ({ seq: first + i, raw, hash: hashOf(raw) }));
const recordable = (item: { raw: string }) => isRecordable(item.raw, MAX_BYTES);
/** The ingest log's tail the previous holder left: hashes of the messages it recorded, oldest first. */
const tailOf = (raws: string[]) => raws.filter((raw) => isRecordable(raw, MAX_BYTES)).map(hashOf);

test("messages that are never recorded (our own echoes, invalid, empty, too large) do not break the match", () => {
  const raws = ["m1", echo(1, "dash 1"), "m2", "   ", "m3", JSON.stringify({ message: "x", channel: "no spaces" }), echo(2, "dash 2"), "m4", "y".repeat(MAX_BYTES + 1), "m5", echo(3, "dash 3"), "m6"];
  const buffer = buffered(raws);
  // The previous holder recorded up to m4 (seq 107): resume right after it.
  assert.equal(matchedResumePoint(buffer, tailOf(raws.slice(0, 8)), 112, recordable), 108);
  // ... up to m5, followed by an echo it skipped: resume after m5; the echo is skipped again when recording.
  assert.equal(matchedResumePoint(buffer, tailOf(raws.slice(0, 11)), 112, recordable), 110);
  // ... everything: nothing is pending.
  assert.equal(matchedResumePoint(buffer, tailOf(raws), 112, recordable), 112);
});

test("a buffer behind the ingest log is no match yet, not its start; the match appears once the messages arrive", () => {
  const raws = ["m1", "m2", echo(1, "dash"), "m3", "m4", "m5"];
  const tail = tailOf(raws.slice(0, 5)); // the previous holder recorded up to m4
  // This node has received only up to m3 so far.
  assert.equal(matchedResumePoint(buffered(raws.slice(0, 4)), tail, 104, recordable), undefined);
  assert.equal(matchedResumePoint([], tail, 0, recordable), undefined);
  // m4 arrives, then m5: resume after m4 both times.
  assert.equal(matchedResumePoint(buffered(raws.slice(0, 5)), tail, 105, recordable), 105);
  assert.equal(matchedResumePoint(buffered(raws), tail, 106, recordable), 105);
});

test("a tail that starts before the buffer does matches at the buffer's start", () => {
  const tail = tailOf(["m0", "m1", "m2", "m3"]);
  // This node subscribed after m0; echoes before and within the overlap are not in the tail.
  const raws = [echo(1, "dash"), "m1", echo(2, "dash"), "m2", "m3", "m4"];
  assert.equal(matchedResumePoint(buffered(raws), tail, 106, recordable), 105);
  // A buffer whose first recordable message is not where the tail ends does not match there.
  assert.equal(matchedResumePoint(buffered(["m2", "m4"]), tail, 102, recordable), undefined);
});

test("with no tail (nothing recorded yet) everything buffered is pending", () => {
  const raws = [echo(1, "dash"), "m1", "m2"];
  assert.equal(matchedResumePoint(buffered(raws), [], 103, recordable), 100);
  assert.equal(matchedResumePoint([], [], 7, recordable), 7);
});
