// Sign-in under attack, against real Redis and RabbitMQ: guessing limits per address group and per username,
// password checks off the main thread and capped, bcrypt costs, the absolute session lifetime, and an audit log
// that failed sign-ins cannot flush.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { hashSync } from "bcryptjs";
import type { AuditEntry, AuditPage } from "../../lib/auth";
import { authEnv, bearer, PASSWORDS, rawRequest, sessionCookie, TOKENS } from "../helpers/auth";
import { eventually, startStack, type Stack } from "../helpers/stack";

const ROOT = new URL("../..", import.meta.url).pathname;

const signInFrom = (url: string, address: string, username: string, password: string) =>
  rawRequest(url, { method: "POST", path: "/api/auth/login", headers: { "X-Forwarded-For": address }, body: { username, password } });

describe("sign-in limits", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 0, env: { ...authEnv(), TRUST_PROXY: "true", LOGIN_ATTEMPTS_PER_MINUTE: "3", LOGIN_FAILURES_PER_USER_PER_HOUR: "4" } });
  });
  after(() => stack.close());

  test("the addresses of one IPv6 /64 share one sign-in limit; another /64 has its own", async () => {
    const url = stack.nodes[0].url;
    for (const suffix of ["1", "2", "3"]) assert.equal((await signInFrom(url, `2001:db8:7:7::${suffix}`, "alice", "guess")).status, 401, suffix);
    const limited = await signInFrom(url, "2001:db8:7:7:ffff::4", "alice", PASSWORDS.alice);
    assert.equal(limited.status, 429, limited.text);
    assert.match(limited.body.error, /Too many sign-in attempts from 2001:db8:7:7::\/64/);
    assert.equal((await signInFrom(url, "2001:db8:7:8::1", "alice", PASSWORDS.alice)).status, 200, "the next /64 is another client");
  });

  test("failed sign-ins for one username are limited across addresses and web nodes; other users are not", async () => {
    const [a, b] = stack.nodes.map((n) => n.url);
    // Four guesses for bob from four addresses, over both nodes: no address comes near its own limit.
    for (const [url, address] of [[a, "198.51.100.1"], [b, "198.51.100.2"], [a, "2001:db8:9:1::1"], [b, "2001:db8:9:2::1"]]) {
      assert.equal((await signInFrom(url, address, "bob", "guess")).status, 401, address);
    }
    const limited = await signInFrom(b, "198.51.100.3", "bob", PASSWORDS.bob);
    assert.equal(limited.status, 429, limited.text);
    assert.equal(limited.body.code, "rate_limited");
    assert.match(limited.body.error, /Too many failed sign-ins for bob: at most 4 an hour/);
    const retryAfter = Number(limited.headers["retry-after"]);
    assert.ok(retryAfter > 3000 && retryAfter <= 3600, String(retryAfter));
    assert.equal(limited.headers["set-cookie"], undefined);
    assert.equal((await signInFrom(a, "198.51.100.4", "bob", PASSWORDS.bob)).status, 429, "the other node too");
    // alice's successful sign-ins never count against her, and bob's failures are his alone.
    for (const address of ["198.51.100.5", "198.51.100.6", "198.51.100.7", "198.51.100.8", "198.51.100.9"]) {
      assert.equal((await signInFrom(a, address, "alice", PASSWORDS.alice)).status, 200, address);
    }
  });
});

/** Runs `npm run auth -- …` (scripts/auth.ts) with `input` on stdin; resolves with its exit code and output. */
function authScript(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/auth.ts", ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(`${input}\n`);
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}

/** How long one sign-in takes to be answered, in milliseconds. */
async function timed(url: string, username: string, password: string): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const res = await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username, password } });
  return { ms: performance.now() - started, status: res.status };
}

describe("password checks", () => {
  let stack: Stack;
  // A cost-13 hash: each check takes about half a second of CPU in bcryptjs.
  const carol = { name: "carol", password: "carol-long-passphrase" };
  before(async () => {
    const env = authEnv();
    stack = await startStack({ workers: 0, env: { ...env, TASKCAST_USERS: `${env.TASKCAST_USERS},${carol.name}:viewer:${hashSync(carol.password, 13)}`, LOGIN_CONCURRENT_CHECKS: "1", LOGIN_ATTEMPTS_PER_MINUTE: "1000" } });
  });
  after(() => stack.close());

  test("passwords are checked off the main thread: the event loop stays free while costly hashes are checked", async (t) => {
    const url = stack.nodes[0].url;
    assert.equal((await timed(url, carol.name, carol.password)).status, 200, "a first check starts the worker thread");
    // This test runs the web node in its own process: its event loop is the node's.
    const start = performance.eventLoopUtilization();
    for (let i = 0; i < 3; i++) assert.equal((await timed(url, carol.name, `wrong-${i}`)).status, 401);
    const { utilization } = performance.eventLoopUtilization(start);
    t.diagnostic(`event loop utilization while checking: ${utilization.toFixed(3)}`);
    assert.ok(utilization < 0.4, `the event loop was busy ${Math.round(utilization * 100)} % of the time`);
  });

  test("past LOGIN_CONCURRENT_CHECKS checks at once, sign-in answers 503 with Retry-After instead of queueing more work", async () => {
    const url = stack.nodes[0].url;
    const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: carol.name, password: `wrong-${i}` } })));
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [401, 503, 503, 503], JSON.stringify(answers.map((r) => r.body)));
    const busy = answers.find((r) => r.status === 503)!;
    assert.equal(busy.body.code, "busy");
    assert.match(busy.body.error, /Too many sign-ins are being checked at once; try again in 1 s/);
    assert.equal(busy.headers["retry-after"], "1");
    // Once the check is done, there is room again.
    assert.equal((await timed(url, carol.name, carol.password)).status, 200);
  });
});

describe("bcrypt costs and lengths", () => {
  let stack: Stack;
  // carol's hash has cost 13 (about half a second in bcryptjs): an unknown name must take as long as she does.
  const carol = { name: "carol", password: "carol-long-passphrase" };
  before(async () => {
    const env = authEnv();
    stack = await startStack({ workers: 0, env: { ...env, TASKCAST_USERS: `${env.TASKCAST_USERS},${carol.name}:viewer:${hashSync(carol.password, 13)}`, LOGIN_ATTEMPTS_PER_MINUTE: "1000" } });
  });
  after(() => stack.close());

  test("a web node refuses to start with a stored hash below cost 10, naming the user", async () => {
    const weak = `dave:viewer:${hashSync("dave-passphrase", 9)}`;
    const run = promisify(execFile);
    const result = await run(process.execPath, ["--import", "tsx", "test/helpers/api-node.ts"], { cwd: ROOT, env: { ...stack.env, NODE_ENV: "production", TASKCAST_USERS: `${authEnv().TASKCAST_USERS},${weak}` }, timeout: 30_000 }).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /TASKCAST_USERS entry 3 \(dave\): the password hash has bcrypt cost 9; use at least 10.*npm run auth -- hash-password/);
  });

  test("an unknown username takes as long to refuse as the configured user with the costliest hash", async () => {
    const url = stack.nodes[0].url;
    await timed(url, "nobody", "warm-up");
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      const wrong = await timed(url, carol.name, `wrong-${i}`);
      const missing = await timed(url, `nobody-${i}`, `wrong-${i}`);
      assert.equal(wrong.status, 401);
      assert.equal(missing.status, 401);
      known.push(wrong.ms);
      unknown.push(missing.ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1];
    // Before, an unknown name was checked against the first user's hash (cost 10 here): about 8 times faster.
    assert.ok(median(unknown) > median(known) * 0.6, `unknown names ${unknown.map(Math.round).join(", ")} ms, carol ${known.map(Math.round).join(", ")} ms`);
  });

  test("a password over 72 bytes is refused at sign-in with 400, not truncated", async () => {
    const url = stack.nodes[0].url;
    // 73 bytes that start with alice's whole password: bcrypt alone would compare only the first 72.
    const long = `${PASSWORDS.alice}${"x".repeat(73 - PASSWORDS.alice.length)}`;
    const res = await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: "alice", password: long } });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.code, "invalid_input");
    assert.match(res.body.error, /password must be at most 72 bytes/);
    const multibyte = await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: "alice", password: "é".repeat(37) } });
    assert.equal(multibyte.status, 400, "74 bytes in 37 characters");
    assert.equal((await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: "alice", password: "x".repeat(72) } })).status, 401, "72 bytes are checked");
  });

  test("npm run auth refuses to hash a password over 72 bytes, and hashes one of 72", async () => {
    const refused = await authScript(["hash-password", "erin", "viewer"], "p".repeat(73));
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /at most 72 bytes/);
    assert.equal(refused.stdout, "");
    const made = await authScript(["hash-password", "erin", "viewer"], "p".repeat(72));
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^erin:viewer:\$2b\$12\$/);
  });
});

describe("session lifetime", () => {
  let stack: Stack;
  before(async () => {
    // 0.001 h = 3.6 s: a session ends that long after sign-in however often it is used.
    stack = await startStack({ workers: 0, env: { ...authEnv(), SESSION_MAX_HOURS: "0.001" } });
  });
  after(() => stack.close());

  test("a session kept in use ends SESSION_MAX_HOURS after its sign-in, on every request and in Redis", async () => {
    const url = stack.nodes[0].url;
    const started = Date.now();
    const res = await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: "alice", password: PASSWORDS.alice } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers["set-cookie"]?.[0] ?? "", /; Max-Age=3;/, "the cookie lasts no longer than the session");
    const cookie = sessionCookie(res);
    const whoAmI = async () => (await rawRequest(url, { path: "/api/auth/session", headers: { Cookie: cookie } })).body.principal?.name ?? null;
    // Used every 300 ms, which would extend it for SESSION_TTL_HOURS (12 h) each time.
    while (Date.now() - started < 3000) {
      assert.equal(await whoAmI(), "alice", `still signed in ${Date.now() - started} ms after sign-in`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const ended = await eventually(async () => ((await whoAmI()) === null ? Date.now() - started : undefined), "the session to end", 10_000, 100);
    assert.ok(ended >= 3600 && ended < 5000, `ended ${ended} ms after sign-in`);
    assert.equal((await rawRequest(url, { path: "/api/tasks", headers: { Cookie: cookie } })).status, 401);
    const sessionKeys = await stack.redis.keys(`${stack.config.KEY_PREFIX}:session:*`);
    assert.deepEqual(sessionKeys, [], "gone from Redis too, so sockets checking it see it ended");
  });
});

describe("failed sign-ins in the audit log", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 0, env: { ...authEnv(), AUDIT_LOG_LIMIT: "20", LOGIN_ATTEMPTS_PER_MINUTE: "1000", LOGIN_FAILURES_PER_USER_PER_HOUR: "1000", LOGIN_CONCURRENT_CHECKS: "10", API_RATE: "0" } });
  });
  after(() => stack.close());

  test("a flood of failed sign-ins does not push operator actions out of the audit log", async () => {
    const url = stack.nodes[0].url;
    const viewer = bearer(TOKENS.grafana);
    const sent = await rawRequest(url, { method: "POST", path: "/api/broadcasts", body: { message: "before the flood" }, headers: bearer(TOKENS.ci) });
    assert.equal(sent.status, 202, sent.text);
    const actionId = await eventually(async () => (await rawRequest(url, { path: "/api/audit?action=broadcast.send", headers: viewer })).body.entries[0]?.id as string | undefined, "the broadcast's audit entry");
    // Past AUDIT_LOG_LIMIT (20) plus one stream node (100 entries), which is what MAXLEN ~ trims at once.
    const failures = 150;
    for (let i = 0; i < failures; i += 10) {
      const batch = Array.from({ length: 10 }, (_, j) => rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: j % 2 ? "alice" : `nobody-${i + j}`, password: `guess-${i + j}` } }));
      for (const res of await Promise.all(batch)) assert.equal(res.status, 401, res.text);
    }
    const last = await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: "alice", password: "the last guess" } });
    assert.equal(last.status, 401);
    const page = await eventually(async () => {
      const p = (await rawRequest(url, { path: "/api/audit?limit=500", headers: viewer })).body;
      return p.entries.filter((e: AuditEntry) => e.action === "auth.login_failed").length >= 20 ? (p as AuditPage) : undefined;
    }, "the failed sign-ins in the audit log");
    assert.ok(
      page.entries.some((e) => e.id === actionId && e.action === "broadcast.send"),
      `the operator action is still listed among ${page.entries.length} entries`,
    );
    assert.equal(page.entries[0].action, "auth.login_failed", "newest first, failures included");
    const ids = page.entries.map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => compareIds(b, a)), "one order across both kinds of entry");
    assert.equal(new Set(ids).size, ids.length, "no id twice");
    // Failed sign-ins are themselves capped: the oldest of them went.
    const failedListed = page.entries.filter((e) => e.action === "auth.login_failed").length;
    assert.ok(failedListed < failures, `${failedListed} failed sign-ins kept of ${failures + 1}`);
    const onlyActions = (await rawRequest(url, { path: "/api/audit?action=broadcast.send", headers: viewer })).body as AuditPage;
    assert.deepEqual(onlyActions.entries.map((e) => e.id), [actionId]);
  });
});

/** Orders Redis stream ids (`ms-seq`) numerically. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}
