import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { runPeriodically } from "../../server/periodic";

test("a periodic job never overlaps itself, and logs a failure once until it succeeds again", async (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const warnings: string[] = [];
  const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  let runs = 0;
  let finish = () => undefined as void;
  let outcome: "ok" | "fail" = "fail";
  const stop = runPeriodically(
    () => {
      runs++;
      return new Promise<void>((resolve, reject) => (finish = () => (outcome === "ok" ? resolve() : reject(new Error("down")))));
    },
    { intervalMs: 1000, failure: { log, message: "the job failed" } },
  );
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  t.mock.timers.tick(1000);
  t.mock.timers.tick(1000); // the first run is still going: this tick is skipped
  assert.equal(runs, 1);
  finish();
  await settle();
  t.mock.timers.tick(1000);
  finish();
  await settle();
  assert.equal(runs, 2);
  assert.deepEqual(warnings, ["the job failed"], "two failures in a row: one warning");
  outcome = "ok";
  t.mock.timers.tick(1000);
  finish();
  await settle();
  outcome = "fail";
  t.mock.timers.tick(1000);
  finish();
  await settle();
  assert.deepEqual(warnings, ["the job failed", "the job failed"], "a failure after a success is logged again");
  stop();
  t.mock.timers.tick(5000);
  assert.equal(runs, 4, "stopped");
});
