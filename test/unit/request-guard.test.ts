import assert from "node:assert/strict";
import { test } from "node:test";
import { hostAllowed, hostAllowlist } from "../../server/access/origin-policy";
import { RateLimiter } from "../../server/access/token-bucket";
import { API_CSP, newNonce, pageCsp } from "../../server/http/security-headers";

test("the rate limiter allows a burst per client, then refuses with the seconds until the next token", () => {
  const limiter = new RateLimiter(2, 5);
  const burst = Array.from({ length: 8 }, () => limiter.take("ip:1", 0));
  assert.equal(burst.filter((v) => v.allowed).length, 5);
  assert.deepEqual(burst[5], { allowed: false, retryAfterSeconds: 1 });
  assert.ok(limiter.take("ip:2", 0).allowed, "another client has its own bucket");
  assert.equal(limiter.take("ip:1", 400).allowed, false, "0.8 of a token after 400 ms");
  assert.equal(limiter.take("ip:1", 500).allowed, true, "one token after 500 ms at 2 a second");
  assert.equal(limiter.take("ip:1", 500).allowed, false);
  assert.equal(Array.from({ length: 10 }, () => limiter.take("ip:1", 60_000)).filter((v) => v.allowed).length, 5, "never more than the burst");
});

test("Retry-After rounds up to whole seconds at slow rates", () => {
  const limiter = new RateLimiter(10 / 60, 10); // the sign-in limiter: 10 a minute
  for (let i = 0; i < 10; i++) assert.ok(limiter.take("ip:1", 0).allowed);
  assert.deepEqual(limiter.take("ip:1", 0), { allowed: false, retryAfterSeconds: 6 });
  assert.deepEqual(limiter.take("ip:1", 3000), { allowed: false, retryAfterSeconds: 3 });
  assert.ok(limiter.take("ip:1", 6000).allowed);
});

test("a rate of 0 turns the limiter off", () => {
  const limiter = new RateLimiter(0, 1);
  assert.ok(Array.from({ length: 10_000 }, () => limiter.take("ip:1", 0)).every((v) => v.allowed));
});

test("idle clients are forgotten without losing anyone's limit", () => {
  const limiter = new RateLimiter(1, 2);
  assert.ok(limiter.take("busy", 0).allowed && limiter.take("busy", 0).allowed);
  // Enough other clients to trigger sweeps; the busy one is still empty at the same instant.
  for (let i = 0; i < 3000; i++) limiter.take(`ip:${i}`, 0);
  assert.equal(limiter.take("busy", 0).allowed, false);
});

test("hostAllowed accepts this machine's names with or without a port, and listed hosts; never any host for *", () => {
  for (const host of ["localhost", "localhost:3000", "LOCALHOST:3000", "127.0.0.1:3000", "127.1.2.3", "[::1]:3000", "[::1]", "app.localhost:8080"]) assert.ok(hostAllowed(host, []), host);
  for (const host of [undefined, "", "evil.example:3000", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.5:3000", "0.0.0.0:3000", "[::]:3000", "a b", "0x7f.1", "evil.example/x"]) {
    assert.ok(!hostAllowed(host, []), String(host));
  }
  const origins = hostAllowlist("127.0.0.1", [], ["https://ops.example.com:8443", "*"]);
  assert.ok(hostAllowed("ops.example.com:8443", origins), "a listed origin's host");
  assert.ok(!hostAllowed("ops.example.com", origins), "the port must match too");
  assert.ok(!hostAllowed("anything.example", origins), "* is no host");
  assert.ok(!hostAllowed("anything.example", ["*"]));
  const listed = hostAllowlist("0.0.0.0", ["taskcast.internal", "ops.internal:8080"], []);
  assert.ok(hostAllowed("taskcast.internal:3000", listed) && hostAllowed("taskcast.internal", listed), "a name without a port: any port");
  assert.ok(hostAllowed("ops.internal:8080", listed) && !hostAllowed("ops.internal:3000", listed));
  assert.ok(!hostAllowed("0.0.0.0:3000", listed), "0.0.0.0 is no name to answer to");
  assert.ok(hostAllowed("10.0.0.5:3000", hostAllowlist("10.0.0.5", [], [])), "HOST itself");
  assert.ok(hostAllowed("[2001:db8::1]:3000", hostAllowlist("2001:db8::1", [], [])));
});

test("the page policy carries this response's script nonce, frames by no one, and allows the same-origin socket", () => {
  const nonce = newNonce();
  assert.match(nonce, /^[A-Za-z0-9+/]{22}==$/);
  assert.notEqual(nonce, newNonce());
  const csp = pageCsp(nonce, "127.0.0.1:3000", false);
  assert.match(csp, new RegExp(`script-src 'self' 'nonce-${nonce.replace(/[+/]/g, "\\$&")}' 'strict-dynamic'(;|$)`));
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /object-src 'none'/);
  assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:3000 wss:\/\/127\.0\.0\.1:3000/);
  assert.doesNotMatch(csp, /unsafe-eval/);
  assert.doesNotMatch(csp.split("; ").find((d) => d.startsWith("script-src"))!, /unsafe-inline/);
  assert.match(pageCsp(nonce, "localhost:3000", true), /'unsafe-eval'/, "Next.js needs eval in development only");
  // A Host header that could inject another directive is left out of the policy.
  assert.equal(pageCsp(nonce, "evil; script-src *", false), pageCsp(nonce, undefined, false));
  assert.match(API_CSP, /default-src 'none'/);
  assert.match(API_CSP, /frame-ancestors 'none'/);
});
