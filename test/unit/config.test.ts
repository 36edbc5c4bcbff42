import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, loadConfig, maskUrl } from "../../server/config";

test("defaults match the documented contract", () => {
  const c = loadConfig({});
  assert.equal(c.PORT, 3000);
  assert.equal(c.HOST, "127.0.0.1");
  assert.equal(c.RABBITMQ_URL, "amqp://guest:guest@127.0.0.1:5672");
  assert.equal(c.REDIS_URL, "redis://127.0.0.1:6379");
  assert.equal(c.TASK_QUEUE, "tasks");
  assert.equal(c.BROADCAST_CHANNEL, "broadcast");
  assert.equal(c.WORKER_CONCURRENCY, 4);
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
