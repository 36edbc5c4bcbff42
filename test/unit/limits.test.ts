import assert from "node:assert/strict";
import { test } from "node:test";
import { originAllowed } from "../../server/access/origin-policy";
import { takeToken } from "../../server/access/token-bucket";

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
