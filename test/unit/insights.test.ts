// Pure parts of the insights view: merging series top-ups and the per-node relay lag window.
import assert from "node:assert/strict";
import { test } from "node:test";
import { mergeSeries, STATS_WINDOW_MINUTES, type StatsSeries } from "../../lib/insights";
import { RelayLagTracker } from "../../server/metrics/relay-lag";

function series(from: number, to: number, value: (t: number) => number): StatsSeries {
  const time = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const v = time.map(value);
  return { time, succeeded: v, failed: v, dead: v, broadcasts: v, ready: v, unacked: v, queues: [] };
}

test("a top-up replaces the seconds it reads again and appends the new ones", () => {
  const merged = mergeSeries(series(100, 110, () => 1), series(108, 112, () => 2));
  assert.deepEqual(merged.time, Array.from({ length: 13 }, (_, i) => 100 + i));
  assert.deepEqual(merged.succeeded, [...Array(8).fill(1), ...Array(5).fill(2)]);
  assert.equal(merged.unacked.length, merged.time.length);
});

test("merged series keep only the last 15 minutes", () => {
  const window = STATS_WINDOW_MINUTES * 60;
  const merged = mergeSeries(series(1, window, (t) => t), series(window - 2, window + 10, (t) => t));
  assert.equal(merged.time.length, window);
  assert.equal(merged.time[0], 11);
  assert.equal(merged.broadcasts.at(-1), window + 10);
});

test("an empty top-up changes nothing", () => {
  const base = series(1, 5, () => 0);
  assert.equal(mergeSeries(base, series(6, 5, () => 0)), base);
});

test("other queues' depth merges by name: a queue only one side has gets nulls on the other, one with no sample left goes", () => {
  const depth = (queue: string, values: Array<number | null>) => ({ queue, ready: values, unacked: values });
  const base = { ...series(1, 3, () => 0), queues: [depth("a", [1, 2, 3]), depth("gone", [5, null, null])] };
  const newer = { ...series(3, 4, () => 0), queues: [depth("a", [4, 5]), depth("b", [7, 8])] };
  const merged = mergeSeries(base, newer);
  assert.deepEqual(merged.queues.map((q) => [q.queue, q.ready]), [
    ["a", [1, 2, 4, 5]],
    ["b", [null, null, 7, 8]],
    ["gone", [5, null, null, null]],
  ]);
  // Past the window the first seconds go, and with them the last sample of "gone".
  const window = STATS_WINDOW_MINUTES * 60;
  const later = mergeSeries(merged, { ...series(5, window + 1, () => 0), queues: [] });
  assert.deepEqual(later.queues.map((q) => q.queue), ["a", "b"]);
});

test("relay lag averages the last minute and forgets older broadcasts", () => {
  const lag = new RelayLagTracker();
  assert.deepEqual(lag.summary(0), { count: 0, avgMs: null, maxMs: null });
  lag.note(new Date(1000).toISOString(), 1010);
  lag.note(new Date(2000).toISOString(), 2030);
  assert.deepEqual(lag.summary(2030), { count: 2, avgMs: 20, maxMs: 30 });
  assert.deepEqual(lag.summary(61_500), { count: 1, avgMs: 30, maxMs: 30 });
  lag.note("not a time", 62_000);
  assert.deepEqual(lag.summary(70_000), { count: 0, avgMs: null, maxMs: null });
});
