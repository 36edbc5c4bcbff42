import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isLoopbackHost } from "../../server/access/origin-policy";
import { checkExposure, ConfigError, loadConfig } from "../../server/config";
import { maskUrl } from "../../server/redact";

test("defaults match the documented contract", () => {
  const c = loadConfig({});
  assert.equal(c.PORT, 3000);
  assert.equal(c.HOST, "127.0.0.1");
  assert.equal(c.RABBITMQ_URL, "amqp://guest:guest@127.0.0.1:5672");
  assert.deepEqual(c.rabbitmqUrls, ["amqp://guest:guest@127.0.0.1:5672"]);
  assert.equal(c.REDIS_URL, "redis://127.0.0.1:6379");
  assert.equal(c.TASK_QUEUE, "tasks");
  assert.equal(c.BROADCAST_CHANNEL, "broadcast");
  assert.equal(c.WORKER_CONCURRENCY, 4);
  assert.equal(c.WORKER_PREFETCH, undefined, "sized to the tasks by the worker");
});

test("WORKER_PREFETCH is at least WORKER_CONCURRENCY", () => {
  assert.equal(loadConfig({ WORKER_CONCURRENCY: "16", WORKER_PREFETCH: "16" }).WORKER_PREFETCH, 16);
  assert.throws(() => loadConfig({ WORKER_CONCURRENCY: "16", WORKER_PREFETCH: "8" }), /WORKER_PREFETCH \(8\) must be at least WORKER_CONCURRENCY \(16\)/);
});

test("values are read from the environment and empty ones count as unset", () => {
  const c = loadConfig({ PORT: "8080", WORKER_CONCURRENCY: "16", TASK_QUEUE: "", REDIS_URL: "rediss://r.example:6380" });
  assert.equal(c.PORT, 8080);
  assert.equal(c.WORKER_CONCURRENCY, 16);
  assert.equal(c.TASK_QUEUE, "tasks");
  assert.equal(c.REDIS_URL, "rediss://r.example:6380");
});

test("bad values fail with a message naming each variable", () => {
  assert.throws(
    () => loadConfig({ PORT: "eighty", WORKER_CONCURRENCY: "0", RABBITMQ_URL: "http://x" }),
    (err: unknown) => err instanceof ConfigError && /PORT/.test(err.message) && /WORKER_CONCURRENCY/.test(err.message) && /RABBITMQ_URL: must be an amqp/.test(err.message),
  );
});

test("RABBITMQ_URL may name a cluster's nodes, comma-separated; RABBITMQ_URL is then the first", () => {
  const c = loadConfig({ RABBITMQ_URL: "amqp://a:5672, amqp://b:5673,amqps://c" });
  assert.deepEqual(c.rabbitmqUrls, ["amqp://a:5672", "amqp://b:5673", "amqps://c"]);
  assert.equal(c.RABBITMQ_URL, "amqp://a:5672");
  assert.throws(() => loadConfig({ RABBITMQ_URL: "amqp://a, redis://b" }), /RABBITMQ_URL: must be an amqp/);
});

test("maskUrl hides passwords", () => {
  assert.equal(maskUrl("amqp://user:secret@host:5672/vh"), "amqp://user:***@host:5672/vh");
  assert.equal(maskUrl("redis://host:6379"), "redis://host:6379");
  assert.equal(maskUrl("::not a url"), "(invalid URL)");
});

test("ALLOWED_ORIGINS is a comma-separated list of origins", () => {
  assert.deepEqual(loadConfig({ ALLOWED_ORIGINS: "https://ops.example.com, http://localhost:8080/" }).ALLOWED_ORIGINS, ["https://ops.example.com", "http://localhost:8080"]);
  assert.deepEqual(loadConfig({}).ALLOWED_ORIGINS, []);
  assert.throws(() => loadConfig({ ALLOWED_ORIGINS: "not an origin" }), /ALLOWED_ORIGINS/);
});

const HASH = "$2b$10$abcdefghijklmnopqrstuu5m8mD8x7XhF0FJp2mGx3xY9i2ZyW0Pq"; // shape only: never checked here
const TOKEN = "t".repeat(32);

test("isLoopbackHost: only addresses reachable from this machine alone", () => {
  for (const host of ["127.0.0.1", "127.0.1.1", "localhost", "::1"]) assert.ok(isLoopbackHost(host), host);
  for (const host of ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com", "127.0.0.1.example.com", "localhost.example.com"]) assert.ok(!isLoopbackHost(host), host);
});

test("without users Taskcast may serve on loopback only, unless explicitly and loudly allowed", () => {
  assert.equal(checkExposure(loadConfig({})), null, "127.0.0.1 by default");
  assert.equal(checkExposure(loadConfig({ HOST: "localhost" })), null);
  assert.throws(
    () => checkExposure(loadConfig({ HOST: "0.0.0.0" })),
    (err: unknown) => err instanceof ConfigError && /Refusing to serve on 0\.0\.0\.0 without sign-in/.test(err.message) && /TASKCAST_USERS/.test(err.message) && /hash-password/.test(err.message) && /ALLOW_INSECURE_NO_AUTH/.test(err.message),
  );
  assert.throws(() => checkExposure(loadConfig({ HOST: "::", TASKCAST_TOKENS: `ci:operator:${TOKEN}` })), ConfigError, "tokens alone do not protect the dashboard");
  assert.match(checkExposure(loadConfig({ HOST: "0.0.0.0", ALLOW_INSECURE_NO_AUTH: "true" })) ?? "", /NO sign-in.*anyone who reaches it is an operator/);
  assert.equal(checkExposure(loadConfig({ HOST: "0.0.0.0", TASKCAST_USERS: `alice:operator:${HASH}` })), null);
  assert.throws(() => loadConfig({ ALLOW_INSECURE_NO_AUTH: "yes please" }), /ALLOW_INSECURE_NO_AUTH: must be true or false/);
  assert.throws(() => checkExposure(loadConfig({ HOST: "0.0.0.0" }), "worker"), /Refusing to serve the worker's \/metrics on 0\.0\.0\.0.*TASKCAST_TOKENS/);
  assert.match(checkExposure(loadConfig({ HOST: "0.0.0.0", ALLOW_INSECURE_NO_AUTH: "true" }), "worker") ?? "", /worker serves \/metrics on 0\.0\.0\.0 with NO sign-in/);
});

test("users and tokens come from variables and files, and a bad entry or file stops the start", () => {
  const dir = mkdtempSync(join(tmpdir(), "taskcast-config-"));
  try {
    writeFileSync(join(dir, "users"), `# users\nbob:viewer:${HASH}\n`);
    writeFileSync(join(dir, "tokens"), `grafana:viewer:${"g".repeat(40)}\n`);
    const c = loadConfig({ TASKCAST_USERS: `alice:operator:${HASH}`, TASKCAST_USERS_FILE: join(dir, "users"), TASKCAST_TOKENS: `ci:operator:${TOKEN}`, TASKCAST_TOKENS_FILE: join(dir, "tokens") });
    assert.deepEqual(c.users.map((u) => u.name), ["alice", "bob"]);
    assert.deepEqual(c.tokens.map((t) => [t.name, t.role]), [["ci", "operator"], ["grafana", "viewer"]]);
    assert.throws(() => loadConfig({ TASKCAST_USERS_FILE: join(dir, "missing") }), (err: unknown) => err instanceof ConfigError && /TASKCAST_USERS_FILE: cannot read .*missing \(ENOENT\)/.test(err.message));
    assert.throws(() => loadConfig({ TASKCAST_TOKENS: "ci:operator:short" }), (err: unknown) => err instanceof ConfigError && /TASKCAST_TOKENS entry 1 \(ci\)/.test(err.message) && !/short/.test(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("session, cookie and limit settings are validated", () => {
  const c = loadConfig({});
  assert.equal(c.SESSION_SECRET, undefined);
  assert.equal(c.SESSION_TTL_HOURS, 12);
  assert.equal(c.COOKIE_SECURE, "auto");
  assert.equal(c.API_RATE, 50);
  assert.equal(c.LOGIN_ATTEMPTS_PER_MINUTE, 10);
  assert.equal(c.AUDIT_LOG_LIMIT, 10_000);
  assert.throws(() => loadConfig({ SESSION_SECRET: "too short" }), /SESSION_SECRET: must be at least 32 characters/);
  assert.throws(() => loadConfig({ COOKIE_SECURE: "sometimes" }), /COOKIE_SECURE: must be auto, always or never/);
  assert.throws(() => loadConfig({ API_BURST: "0" }), /API_BURST/);
  assert.equal(loadConfig({ API_RATE: "0" }).API_RATE, 0, "0 turns the API limit off");
});

test("ALLOWED_HOSTS lists host names; ALLOWED_ORIGINS=* is refused without users", () => {
  assert.deepEqual(loadConfig({ ALLOWED_HOSTS: "Taskcast.internal, ops.internal:8080" }).ALLOWED_HOSTS, ["taskcast.internal", "ops.internal:8080"]);
  assert.deepEqual(loadConfig({}).ALLOWED_HOSTS, []);
  for (const bad of ["*", "https://taskcast.internal", "a b", "taskcast.internal/path"]) assert.throws(() => loadConfig({ ALLOWED_HOSTS: bad }), /ALLOWED_HOSTS: must be host names/, bad);
  assert.throws(
    () => checkExposure(loadConfig({ ALLOWED_ORIGINS: "*" })),
    (err: unknown) => err instanceof ConfigError && /Refusing ALLOWED_ORIGINS=\* without sign-in/.test(err.message) && /TASKCAST_USERS/.test(err.message),
  );
  assert.equal(checkExposure(loadConfig({ ALLOWED_ORIGINS: "*", TASKCAST_USERS: `alice:operator:${HASH}` })), null, "with users every request is authenticated");
});

test("TRUST_PROXY is true, false or the number of proxies in front", () => {
  assert.equal(loadConfig({}).TRUST_PROXY, 0);
  assert.equal(loadConfig({ TRUST_PROXY: "false" }).TRUST_PROXY, 0);
  assert.equal(loadConfig({ TRUST_PROXY: "true" }).TRUST_PROXY, 1, "true is one proxy");
  assert.equal(loadConfig({ TRUST_PROXY: "2" }).TRUST_PROXY, 2);
  assert.throws(() => loadConfig({ TRUST_PROXY: "-1" }), /TRUST_PROXY: must be true, false or the number of proxies/);
  assert.throws(() => loadConfig({ TRUST_PROXY: "10.0.0.1" }), /TRUST_PROXY/);
});

test("SESSION_MAX_HOURS bounds every session: 7 days by default, fractions allowed, never zero", () => {
  assert.equal(loadConfig({}).SESSION_MAX_HOURS, 168);
  assert.equal(loadConfig({ SESSION_MAX_HOURS: "0.5" }).SESSION_MAX_HOURS, 0.5);
  assert.throws(() => loadConfig({ SESSION_MAX_HOURS: "0" }), /SESSION_MAX_HOURS/);
  assert.throws(() => loadConfig({ SESSION_MAX_HOURS: "a week" }), /SESSION_MAX_HOURS/);
});

test("sign-in limits: failures per username and concurrent password checks, both positive", () => {
  const c = loadConfig({});
  assert.equal(c.LOGIN_FAILURES_PER_USER_PER_HOUR, 20);
  assert.equal(c.LOGIN_CONCURRENT_CHECKS, 8);
  assert.equal(loadConfig({ LOGIN_CONCURRENT_CHECKS: "2", LOGIN_FAILURES_PER_USER_PER_HOUR: "5" }).LOGIN_CONCURRENT_CHECKS, 2);
  assert.throws(() => loadConfig({ LOGIN_CONCURRENT_CHECKS: "0" }), /LOGIN_CONCURRENT_CHECKS/);
  assert.throws(() => loadConfig({ LOGIN_FAILURES_PER_USER_PER_HOUR: "0" }), /LOGIN_FAILURES_PER_USER_PER_HOUR/);
});

test("SOCKETS_PER_PRINCIPAL caps one user's or token's sockets per web node: 50 by default, 0 for no cap", () => {
  assert.equal(loadConfig({}).SOCKETS_PER_PRINCIPAL, 50);
  assert.equal(loadConfig({ SOCKETS_PER_PRINCIPAL: "0" }).SOCKETS_PER_PRINCIPAL, 0);
  assert.throws(() => loadConfig({ SOCKETS_PER_PRINCIPAL: "-1" }), /SOCKETS_PER_PRINCIPAL/);
  assert.throws(() => loadConfig({ SOCKETS_PER_PRINCIPAL: "many" }), /SOCKETS_PER_PRINCIPAL/);
});

test("TASK_TRACK_SUMMARY lists built-in task types, and names any other it is given", () => {
  assert.deepEqual(loadConfig({}).TASK_TRACK_SUMMARY, []);
  assert.deepEqual(loadConfig({ TASK_TRACK_SUMMARY: " echo, sleep ,echo" }).TASK_TRACK_SUMMARY, ["echo", "sleep"]);
  assert.throws(() => loadConfig({ TASK_TRACK_SUMMARY: "echo,resize-image" }), (err: unknown) => err instanceof ConfigError && /TASK_TRACK_SUMMARY names "resize-image", not a built-in task type; the built-in types are .*echo/.test(err.message));
});
