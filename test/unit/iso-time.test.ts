import assert from "node:assert/strict";
import { test } from "node:test";
import { isoMs } from "../../lib/iso-time";

test("isoMs answers Date.parse, whatever order its strings come in", () => {
  const times = ["2026-12-03T09:00:00.000Z", "2026-12-03T09:00:00.001Z", "2026-12-03T09:00:00.002Z", "not a date", ""];
  // Repeats, alternations of two, and a third in between: every path of its memory.
  const order = [0, 0, 1, 0, 1, 2, 0, 2, 2, 1, 3, 3, 0, 4, 1];
  for (const i of order) {
    const text = times[i]!;
    const expected = Date.parse(text);
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(isoMs(text)), text);
    else assert.equal(isoMs(text), expected, text);
  }
});
