import assert from "node:assert/strict";
import { test } from "node:test";
import { originAllowed } from "../../server/access/origin-policy";
import { budgeted, chargeScan, scanBudget } from "../../server/access/scan-cost";
import { RateLimiter, takeToken } from "../../server/access/token-bucket";

test("the token bucket allows a burst, then the steady rate", () => {
  const bucket = { tokens: 20, refilledAt: 0 };
  const burst = Array.from({ length: 25 }, () => takeToken(bucket, 0, 10, 20));
  assert.equal(burst.filter(Boolean).length, 20);
  assert.equal(takeToken(bucket, 50, 10, 20), false, "half a token after 50 ms");
  assert.equal(takeToken(bucket, 100, 10, 20), true, "one token after 100 ms");
  assert.equal(takeToken(bucket, 100, 10, 20), false);
  assert.equal(Array.from({ length: 30 }, () => takeToken(bucket, 60_000, 10, 20)).filter(Boolean).length, 20, "never more than the burst");
});

test("a browser may connect from its own origin (scheme, host and port) or a listed one; other origins are refused", () => {
  assert.ok(originAllowed(undefined, "127.0.0.1:3000", false, []), "no Origin: not a browser");
  assert.ok(originAllowed("http://127.0.0.1:3000", "127.0.0.1:3000", false, []));
  assert.ok(!originAllowed("https://127.0.0.1:3000", "127.0.0.1:3000", false, []), "another scheme is another origin");
  assert.ok(originAllowed("https://dashboard.example", "dashboard.example", true, []));
  assert.ok(originAllowed("https://dashboard.example", "dashboard.example:443", true, []), "the default port");
  assert.ok(!originAllowed("http://dashboard.example", "dashboard.example", true, []), "plain HTTP is not the HTTPS dashboard's origin");
  assert.ok(!originAllowed("http://evil.example", "127.0.0.1:3000", false, []));
  assert.ok(originAllowed("http://evil.example", "127.0.0.1:3000", false, ["http://evil.example"]));
  assert.ok(originAllowed("http://any.example", "127.0.0.1:3000", false, ["*"]));
  assert.ok(!originAllowed("null", "127.0.0.1:3000", false, []));
});

test("a request charged for the records it read leaves its client in debt until the refill pays it back", () => {
  const limiter = new RateLimiter(10, 20);
  assert.equal(limiter.available("a", 0), 20, "a new client has the whole burst");
  assert.ok(limiter.take("a", 0).allowed);
  limiter.charge("a", 25, 0);
  assert.equal(limiter.available("a", 0), -6);
  const refused = limiter.take("a", 0);
  assert.deepEqual(refused, { allowed: false, retryAfterSeconds: 1 });
  assert.equal(limiter.take("a", 600).allowed, false, "0 tokens after 600 ms");
  assert.equal(limiter.take("a", 700).allowed, true, "1 token after 700 ms");
  assert.equal(limiter.available("b", 0), 20, "other clients are not charged");
  assert.equal(new RateLimiter(0, 20).available("a"), Infinity, "rate 0: no limit");
});

test("a scan reads what its own token and the client's remaining tokens pay for, and is charged the rest", () => {
  let left = 4.5;
  let charged = 0;
  const cost = { available: () => left, charge: (t: number) => void (charged += t), refund: () => undefined };
  assert.equal(scanBudget(cost, 100, 5000), 500, "1 + 4 whole tokens of 100 records");
  left = 0;
  assert.equal(scanBudget(cost, 100, 5000), 100, "the request's own token");
  left = Infinity;
  assert.equal(scanBudget(cost, 100, 5000), 5000, "no limit: the cap");
  chargeScan(cost, 100, 100);
  assert.equal(charged, 0, "100 records: the request's own token");
  chargeScan(cost, 101, 100);
  assert.equal(charged, 1);
  chargeScan(cost, 2000, 100);
  assert.equal(charged, 20);
});

test("reads run side by side cannot each spend the same budget: tokens are taken before a read, the unused given back", async () => {
  const limiter = new RateLimiter(1, 100);
  const cost = { available: () => limiter.available("c", 0), charge: (t: number) => limiter.charge("c", t, 0), refund: (t: number) => limiter.refund("c", t, 0) };
  let release = () => undefined as void;
  const budgets: number[] = [];
  // The first read holds its budget while it runs; the second starts meanwhile.
  const first = budgeted(cost, 100, 100_000, async (scanLimit, meter) => {
    budgets.push(scanLimit);
    await new Promise<void>((resolve) => (release = resolve));
    meter.scanned = 1000;
  });
  await budgeted(cost, 100, 100_000, async (scanLimit, meter) => {
    budgets.push(scanLimit);
    meter.scanned = scanLimit;
  });
  release();
  await first;
  assert.deepEqual(budgets, [10_100, 100], "the second read gets what is left: its own token's 100 records");
  // The first read used 10 tokens' worth beyond its own and was given back the other 91.
  assert.equal(limiter.available("c", 0), 91);
});
