import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_WORKER_EVENT_BYTES, parseWorkerEvent, TaskReportSchema, WorkerAnnounceSchema } from "../../lib/worker-protocol";

const announce = { kind: "worker", v: 1, worker: "php-1", queue: "images", types: [{ name: "resize", description: "Resizes an image", example: { w: 100 } }], concurrency: 4, inflight: 1, language: "php", host: "box-1" };

test("an announcement as the protocol page shows it parses, optional fields left out too", () => {
  assert.deepEqual(WorkerAnnounceSchema.parse(announce), announce);
  const bare = WorkerAnnounceSchema.parse({ kind: "worker", v: 1, worker: "w", queue: "q", types: [{ name: "t" }], concurrency: 1, inflight: 0 });
  assert.equal(bare.language, undefined);
  assert.equal(bare.types[0].description, undefined);
});

test("an announcement with no types, a bad count or an unknown version is refused", () => {
  assert.equal(WorkerAnnounceSchema.safeParse({ ...announce, types: [] }).success, false);
  assert.equal(WorkerAnnounceSchema.safeParse({ ...announce, concurrency: 0 }).success, false);
  assert.equal(WorkerAnnounceSchema.safeParse({ ...announce, inflight: -1 }).success, false);
  assert.equal(WorkerAnnounceSchema.safeParse({ ...announce, v: 2 }).success, false);
  assert.equal(WorkerAnnounceSchema.safeParse({ ...announce, worker: "" }).success, false);
  assert.equal(WorkerAnnounceSchema.safeParse({ ...announce, types: [{ name: "" }] }).success, false);
});

test("task reports of every status parse; progress is 0..1 and at is an ISO time", () => {
  for (const status of ["running", "succeeded", "failed", "error"] as const) {
    assert.equal(TaskReportSchema.safeParse({ kind: "task", v: 1, id: "t1", worker: "php-1", status, error: "why" }).success, true, status);
  }
  const full = { kind: "task", v: 1, id: "t1", worker: "w", status: "succeeded", progress: 1, result: { url: "x" }, at: "2026-12-01T10:00:00.000Z", run: 2 };
  assert.deepEqual(TaskReportSchema.parse(full), full);
  assert.equal(TaskReportSchema.safeParse({ ...full, progress: 1.5 }).success, false);
  assert.equal(TaskReportSchema.safeParse({ ...full, at: "yesterday" }).success, false);
  assert.equal(TaskReportSchema.safeParse({ ...full, status: "done" }).success, false);
  assert.equal(TaskReportSchema.safeParse({ ...full, id: "" }).success, false);
  assert.equal(TaskReportSchema.safeParse({ ...full, run: 0 }).success, false);
});

test("a failed or error report must say what went wrong", () => {
  assert.equal(TaskReportSchema.safeParse({ kind: "task", v: 1, id: "t", worker: "w", status: "failed" }).success, false);
  assert.equal(TaskReportSchema.safeParse({ kind: "task", v: 1, id: "t", worker: "w", status: "error", error: "" }).success, false);
  assert.equal(TaskReportSchema.safeParse({ kind: "task", v: 1, id: "t", worker: "w", status: "error", error: "disk full" }).success, true);
});

test("parseWorkerEvent reads either kind from bytes and never throws on garbage", () => {
  const a = parseWorkerEvent(Buffer.from(JSON.stringify(announce)));
  assert.ok(a.ok && a.event.kind === "worker");
  const t = parseWorkerEvent(Buffer.from(JSON.stringify({ kind: "task", v: 1, id: "t", worker: "w", status: "running", progress: 0.5 })));
  assert.ok(t.ok && t.event.kind === "task" && t.event.progress === 0.5);
  for (const bad of ["", "not json", "null", "[]", "42", '{"kind":"job"}', '{"kind":"task","v":1}', "\u0000\u00ff"]) {
    const parsed = parseWorkerEvent(Buffer.from(bad));
    assert.ok(!parsed.ok, bad);
    assert.ok(parsed.reason.length > 0 && parsed.reason.length <= 300, parsed.reason);
  }
  const notJson = parseWorkerEvent(Buffer.from("not json"));
  assert.ok(!notJson.ok && notJson.kind === "not-json");
  const shape = parseWorkerEvent(Buffer.from('{"kind":"task","v":1}'));
  assert.ok(!shape.ok && shape.kind === "bad-shape");
});

test("an event over MAX_WORKER_EVENT_BYTES is refused before it is parsed", () => {
  const big = Buffer.from(JSON.stringify({ kind: "task", v: 1, id: "t", worker: "w", status: "succeeded", result: "x".repeat(MAX_WORKER_EVENT_BYTES) }));
  const parsed = parseWorkerEvent(big);
  assert.ok(!parsed.ok && parsed.kind === "bad-shape" && /too large/.test(parsed.reason), JSON.stringify(parsed).slice(0, 200));
  const fits = parseWorkerEvent(Buffer.from(JSON.stringify({ kind: "task", v: 1, id: "t", worker: "w", status: "succeeded", result: "x".repeat(MAX_WORKER_EVENT_BYTES - 200) })));
  assert.ok(fits.ok);
});

test("a report may carry the delivery's reply_to and correlation_id, for the submitter's one reply", () => {
  const report = { kind: "task", v: 1, id: "t", worker: "w", status: "succeeded", reply_to: "amq.gen-abc", correlation_id: "c-1" };
  assert.deepEqual(TaskReportSchema.parse(report), report);
  assert.equal(TaskReportSchema.safeParse({ ...report, reply_to: "" }).success, false);
  assert.equal(TaskReportSchema.safeParse({ ...report, reply_to: "q".repeat(256) }).success, false);
  assert.equal(TaskReportSchema.safeParse({ ...report, correlation_id: 7 }).success, false);
  // AMQP short strings count bytes: 200 "é" are 400 bytes, which amqplib would refuse to send.
  assert.equal(TaskReportSchema.safeParse({ ...report, reply_to: "é".repeat(200) }).success, false);
  assert.equal(TaskReportSchema.safeParse({ ...report, correlation_id: "é".repeat(128) }).success, false);
  assert.equal(TaskReportSchema.safeParse({ ...report, correlation_id: "é".repeat(127) }).success, true);
});
