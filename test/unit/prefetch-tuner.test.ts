// The worker's prefetch when WORKER_PREFETCH is unset: sized from what its slots did over a window.
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { test } from "node:test";
import { PrefetchTuner } from "../../server/queue/prefetch-tuner";
import { Slots } from "../../server/queue/slots";

const window = (busyMs: number, released: number) => ({ ms: 2000, busyMs, released });

test("short tasks raise the prefetch to sixteen times the concurrency, long ones keep it at twice", () => {
  const tuner = new PrefetchTuner(16);
  assert.equal(tuner.min, 32);
  assert.equal(tuner.max, 256);
  // 16 slots busy 30 % of 2 s, 19,200 deliveries: 0.5 ms a slot (32 × (1 + 8 / 0.5) = 544, capped).
  assert.equal(tuner.next(32, window(9600, 19_200)), 256);
  // 2 ms a slot: 32 × (1 + 8 / 2) = 160.
  assert.equal(tuner.next(32, window(19_200, 9600)), 160);
  // 4 ms a slot: 32 × 3 = 96.
  assert.equal(tuner.next(32, window(19_200, 4800)), 96);
  // Tasks of 1 s: no credit beyond twice the slots helps.
  assert.equal(tuner.next(128, window(32_000, 32)), 32);
  // Slots held the whole window by tasks that have not ended yet: long tasks too.
  assert.equal(tuner.next(128, window(32_000, 0)), 32);
});

test("tasks of some ms get a prefetch in between, and small moves are left alone", () => {
  const tuner = new PrefetchTuner(16);
  // 16 ms a slot: 32 × (1 + 8 / 16) = 48.
  assert.equal(tuner.next(32, window(32_000, 2000)), 48);
  // 14 ms a slot asks for 50: within a quarter of 48, kept.
  assert.equal(tuner.next(48, window(28_000, 2000)), undefined);
});

test("a worker idle for five windows in a row goes back to twice the concurrency; a short pause keeps its prefetch", () => {
  const tuner = new PrefetchTuner(4);
  // Less than a quarter of one slot busy over a window, and few deliveries: idle.
  for (let i = 0; i < 4; i++) assert.equal(tuner.next(64, window(400, 30)), undefined, `idle window ${i + 1}`);
  // Many tiny tasks (each claimed before its slot, so little slot time) are not idleness.
  assert.equal(tuner.next(64, window(400, 3000)), undefined, "kept at the top");
  for (let i = 0; i < 4; i++) assert.equal(tuner.next(64, window(0, 0)), undefined, `idle again, window ${i + 1}`);
  // Busy again: the count starts over.
  assert.equal(tuner.next(64, window(4000, 8000)), undefined);
  for (let i = 0; i < 4; i++) assert.equal(tuner.next(64, window(0, 0)), undefined);
  assert.equal(tuner.next(64, window(0, 0)), 8, "the fifth idle window in a row");
  assert.equal(tuner.next(8, window(0, 0)), undefined, "already there");
});

test("a shrinking prefetch hands back the waiting deliveries only if they hold a quarter second of work", () => {
  const tuner = new PrefetchTuner(1);
  // Tasks of 0.1 ms: 60 waiting are 6 ms of work, not worth a requeue each.
  assert.equal(tuner.next(2, window(400, 4000)), 64);
  assert.equal(tuner.worthHandingBack(60), false);
  // A slot held the whole window by a task still running: long tasks; five waiting behind it go back.
  assert.equal(tuner.next(64, { ms: 1000, busyMs: 1000, released: 0 }), 2);
  assert.equal(tuner.worthHandingBack(5), true);
  assert.equal(tuner.worthHandingBack(0), false);
  // Tasks of 10 ms at concurrency 4: 80 waiting are 200 ms of work; 120 are 300 ms.
  const four = new PrefetchTuner(4);
  four.next(8, window(4000, 400));
  assert.equal(four.worthHandingBack(80), false);
  assert.equal(four.worthHandingBack(120), true);
});

test("large messages bound the deliveries held beyond twice the concurrency", () => {
  const tuner = new PrefetchTuner(16);
  for (let i = 0; i < 10; i++) tuner.delivered(1024 * 1024);
  // 16 MiB of 1 MiB bodies: 16 beyond the 32.
  assert.equal(tuner.next(32, window(19_200, 19_200)), 48);
  // The window's sizes are forgotten: small bodies again (1 ms a slot: 32 × 9 = 288, capped).
  for (let i = 0; i < 10; i++) tuner.delivered(100);
  assert.equal(tuner.next(48, window(19_200, 19_200)), 256);
});

test("the bounds never pass RabbitMQ's largest prefetch Taskcast sets", () => {
  const tuner = new PrefetchTuner(1000);
  assert.equal(tuner.min, 2000);
  assert.equal(tuner.max, 2000);
});

test("the top is sixteen times the concurrency, and at least 64 for small concurrencies", () => {
  assert.deepEqual([1, 2, 4, 8, 16].map((c) => new PrefetchTuner(c).max), [64, 64, 64, 128, 256]);
  const tuner = new PrefetchTuner(1);
  assert.equal(tuner.min, 2);
  // One slot busy 20 % of 2 s, 4,000 deliveries: 0.1 ms a slot asks for 2 × 81 = 162, capped at 64.
  assert.equal(tuner.next(2, window(400, 4000)), 64);
});

test("slots count the time they are held and how many were given back", async () => {
  const slots = new Slots(2);
  slots.usage();
  assert.equal(await slots.acquire(), true);
  assert.equal(await slots.acquire(), true);
  const third = slots.acquire();
  await delay(50);
  slots.release(); // passes to the third
  assert.equal(await third, true);
  await delay(50);
  slots.release();
  slots.release();
  const used = slots.usage();
  assert.equal(used.released, 3);
  // Two slots held for about 100 ms.
  assert.ok(used.busyMs >= 190 && used.busyMs < 400, `busy ${used.busyMs} ms`);
  assert.ok(used.ms >= 95, `window ${used.ms} ms`);
  assert.equal(slots.usage().busyMs, 0, "a new window starts empty");
});
