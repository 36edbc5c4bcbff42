// The network edges against real RabbitMQ and Redis: client addresses behind a proxy, Host and Origin checks,
// throttled authentication failures, per-address limits, error bodies and the worker's own port.
import assert from "node:assert/strict";
import { connect } from "amqplib";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { io as ioClient } from "socket.io-client";
import type { AuditEntry } from "../../lib/auth";
import { ConfigError, loadConfig } from "../../server/config";
import { startWebNode } from "../../server/web-node";
import { startWorkerNode } from "../../server/worker-node";
import { authEnv, bearer, originOf, PASSWORDS, rawRequest, signIn, TOKENS } from "../helpers/auth";
import { FaultProxy } from "../helpers/fault-proxy";
import { eventually, startStack, type Stack } from "../helpers/stack";

const quiet = pino({ level: "silent" });

/** Opens a socket with these headers; resolves "connected" or the refusal's message. */
async function socketAnswer(url: string, extraHeaders: Record<string, string>, transports: Array<"polling" | "websocket"> = ["polling"]): Promise<string> {
  const socket = ioClient(url, { transports, forceNew: true, reconnection: false, extraHeaders });
  try {
    return await new Promise<string>((resolve) => {
      socket.once("connect", () => resolve("connected"));
      socket.once("connect_error", (err) => resolve(`${err.message} ${JSON.stringify((err as { context?: { responseText?: string } }).context?.responseText ?? "")}`));
    });
  } finally {
    socket.disconnect();
  }
}

/** A random address a client could write into X-Forwarded-For itself. */
const spoofed = () => `203.0.113.${1 + Math.floor(Math.random() * 250)}`;

describe("behind a trusted proxy (TRUST_PROXY=true)", () => {
  let stack: Stack;
  let url: string;
  // What nginx's $proxy_add_x_forwarded_for appends: the address it saw the client connect from.
  const REAL = "198.51.100.7";
  before(async () => {
    stack = await startStack({ workers: 0, env: { ...authEnv(), TRUST_PROXY: "true", LOGIN_ATTEMPTS_PER_MINUTE: "3", API_RATE: "1", API_BURST: "5" } });
    url = stack.nodes[0].url;
  });
  after(() => stack.close());

  test("a client that writes its own X-Forwarded-For entries is still one address: sign-in guesses and wrong tokens are throttled, and the audit log names the real address", async () => {
    const forwarded = () => ({ "X-Forwarded-For": `${spoofed()}, ${REAL}` });
    const answers: number[] = [];
    for (let i = 0; i < 4; i++) {
      answers.push((await rawRequest(url, { method: "POST", path: "/api/auth/login", headers: forwarded(), body: { username: "alice", password: `guess-${i}` } })).status);
    }
    assert.deepEqual(answers, [401, 401, 401, 429], "the fourth guess from the same real address is refused");
    const tokenAnswers: number[] = [];
    for (let i = 0; i < 8; i++) tokenAnswers.push((await rawRequest(url, { path: "/api/queue", headers: { ...forwarded(), ...bearer(randomBytes(32).toString("base64url")) } })).status);
    assert.equal(tokenAnswers.at(-1), 429, `wrong tokens past the burst: ${tokenAnswers.join(", ")}`);
    const entries = await eventually(async () => {
      const res = await rawRequest(url, { path: "/api/audit?action=auth.login_failed", headers: bearer(TOKENS.grafana) });
      return res.body.entries?.length >= 3 ? (res.body.entries as AuditEntry[]) : undefined;
    }, "the failed sign-ins in the audit log");
    assert.deepEqual([...new Set(entries.map((e) => e.ip))], [REAL]);
    // Another real client behind the same proxy is not held up.
    const other = await rawRequest(url, { method: "POST", path: "/api/auth/login", headers: { "X-Forwarded-For": `${REAL}, 198.51.100.8` }, body: { username: "alice", password: PASSWORDS.alice } });
    assert.equal(other.status, 200, other.text);
  });

  test("the Origin check compares the scheme: a plain-HTTP page may not act on the HTTPS dashboard, nor the other way round", async () => {
    const cookie = await signIn(url, "alice", PASSWORDS.alice);
    const host = new URL(url).host;
    const overHttps = { Cookie: cookie, "X-Forwarded-Proto": "https" };
    const fromHttp = await rawRequest(url, { method: "POST", path: "/api/broadcasts", headers: { ...overHttps, Origin: `http://${host}` }, body: { message: "from plain http" } });
    assert.equal(fromHttp.status, 403, fromHttp.text);
    assert.equal(fromHttp.body.code, "cross_site");
    const fromHttps = await rawRequest(url, { method: "POST", path: "/api/broadcasts", headers: { ...overHttps, Origin: `https://${host}` }, body: { message: "from the dashboard" } });
    assert.equal(fromHttps.status, 202, fromHttps.text);
    // The node reached over plain HTTP: an https:// page on the same host and port is another origin.
    const reversed = await rawRequest(url, { method: "POST", path: "/api/broadcasts", headers: { Cookie: cookie, Origin: `https://${host}` }, body: { message: "from https" } });
    assert.equal(reversed.status, 403, reversed.text);
    assert.match(reversed.body.error, /set TRUST_PROXY=true/, "the likely set-up mistake is named");
    assert.match(await socketAnswer(url, { ...overHttps, Origin: `http://${host}` }), /Origin not allowed/);
    assert.equal(await socketAnswer(url, { ...overHttps, Origin: `https://${host}` }), "connected");
    assert.equal(await socketAnswer(url, { Cookie: cookie, Origin: originOf(url) }), "connected");
  });

  test("wrong tokens are throttled by address everywhere: on pages, on /metrics and in Socket.IO handshakes", async () => {
    const wrong = () => bearer(randomBytes(32).toString("base64url"));
    const statuses = async (path: string, address: string) => {
      const seen: number[] = [];
      for (let i = 0; i < 8; i++) seen.push((await rawRequest(url, { path, headers: { "X-Forwarded-For": address, ...wrong() } })).status);
      return seen;
    };
    // API_BURST=5: five failures are answered 401, the next ones 429.
    assert.deepEqual(await statuses("/tasks", "198.51.100.20"), [401, 401, 401, 401, 401, 429, 429, 429], "a page");
    assert.deepEqual(await statuses("/metrics", "198.51.100.21"), [401, 401, 401, 401, 401, 429, 429, 429], "/metrics");
    const refusals: string[] = [];
    for (let i = 0; i < 7; i++) {
      const headers = { "X-Forwarded-For": "198.51.100.22", ...(i % 2 === 0 ? wrong() : {}) };
      refusals.push(await socketAnswer(url, headers));
    }
    assert.ok(refusals.slice(0, 5).every((r) => !/Too many/.test(r)), refusals.join("\n"));
    assert.match(refusals[6], /Too many failed sign-ins from this address/);
    // Valid credentials from that address still work, and other addresses were never limited.
    assert.equal(await socketAnswer(url, { "X-Forwarded-For": "198.51.100.22", ...bearer(TOKENS.ci) }), "connected");
    assert.equal((await rawRequest(url, { path: "/api/queue", headers: { "X-Forwarded-For": "198.51.100.23", ...wrong() } })).status, 401);
  });

  test("the addresses of one IPv6 /64 are one client for every per-address limit, not 2^64 of them", async () => {
    const wrong = () => bearer(randomBytes(32).toString("base64url"));
    const seen: number[] = [];
    // Each wrong token from another address of the same /64 (API_BURST=5).
    for (let i = 1; i <= 8; i++) seen.push((await rawRequest(url, { path: "/api/queue", headers: { "X-Forwarded-For": `2001:db8:5:7::${i.toString(16)}`, ...wrong() } })).status);
    assert.deepEqual(seen, [401, 401, 401, 401, 401, 429, 429, 429]);
    const refusal = await socketAnswer(url, { "X-Forwarded-For": "2001:db8:5:7::99", ...wrong() });
    assert.match(refusal, /Too many failed sign-ins from this address/);
    // Another /64 is another client.
    assert.equal((await rawRequest(url, { path: "/api/queue", headers: { "X-Forwarded-For": "2001:db8:5:8::1", ...wrong() } })).status, 401);
  });

  test("pages, /healthz and /metrics have a light per-address limit (4 × API_RATE, bursts of 4 × API_BURST)", async () => {
    const flood = async (path: string, address: string) => {
      const answers = [];
      for (let i = 0; i < 30; i++) answers.push(await rawRequest(url, { path, headers: { "X-Forwarded-For": address } }));
      return answers;
    };
    const health = await flood("/healthz", "198.51.100.30");
    assert.equal(health[0].status, 200);
    const limited = health.find((r) => r.status === 429);
    assert.ok(limited, `30 /healthz at once: ${health.map((r) => r.status).join(", ")}`);
    assert.equal(limited.body.code, "rate_limited");
    assert.match(String(limited.headers["retry-after"]), /^[1-9]\d*$/);
    const pages = await flood("/login", "198.51.100.31");
    assert.ok(pages.some((r) => r.status === 429 && /Too many requests/.test(r.text)), pages.map((r) => r.status).join(", "));
    assert.equal((await rawRequest(url, { path: "/healthz", headers: { "X-Forwarded-For": "198.51.100.32" } })).status, 200, "another address");
  });
});

describe("without users, requests are not authenticated, so a node answers only to its own names", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ webNodes: 0, workers: 0 });
  });
  after(() => stack.close());

  test("ALLOWED_ORIGINS=* is refused at start: it would let any website act as the local operator", async () => {
    const started = await startWebNode(loadConfig({ ...stack.env, ALLOWED_ORIGINS: "*" }), quiet).then(
      async (node) => {
        // What it would let through: a page on any name, acting as the operator.
        const res = await rawRequest(node.url, { method: "POST", path: "/api/broadcasts", headers: { Host: "evil.example", Origin: "http://evil.example" }, body: { message: "rebound" } });
        await node.close();
        return `started, and a rebound request from http://evil.example answered ${res.status}`;
      },
      (err: unknown) => err,
    );
    assert.ok(started instanceof ConfigError, String(started));
    assert.match(started.message, /Refusing ALLOWED_ORIGINS=\* without sign-in.*List the origins you use/);
  });

  test("ALLOW_INSECURE_NO_AUTH keeps the Host check: only loopback names, HOST and ALLOWED_HOSTS are answered, on HTTP and sockets", async () => {
    const node = await startWebNode(loadConfig({ ...stack.env, HOST: "0.0.0.0", ALLOW_INSECURE_NO_AUTH: "true", ALLOWED_HOSTS: "taskcast.internal" }), quiet);
    try {
      const rebound = await rawRequest(node.url, { method: "POST", path: "/api/broadcasts", headers: { Host: `evil.example:${node.port}` }, body: { message: "rebound" } });
      assert.equal(rebound.status, 403, rebound.text);
      assert.equal(rebound.body.code, "host_not_allowed");
      assert.match(rebound.body.error, /ALLOWED_HOSTS/);
      assert.equal((await rawRequest(node.url, { path: "/", headers: { Host: "evil.example" } })).status, 403);
      // Socket.IO's first request (socket.io-client cannot set Host).
      const handshake = (host: string) => rawRequest(node.url, { path: "/socket.io/?EIO=4&transport=polling", headers: { Host: host } });
      const refused = await handshake(`evil.example:${node.port}`);
      assert.equal(refused.status, 403);
      assert.match(refused.body.message, /Host not allowed/);
      for (const host of [`taskcast.internal:${node.port}`, `localhost:${node.port}`]) {
        assert.equal((await rawRequest(node.url, { path: "/api/queue", headers: { Host: host } })).status, 200, host);
      }
      assert.equal((await handshake(`taskcast.internal:${node.port}`)).status, 200);
    } finally {
      await node.close();
    }
  });
});

describe("a worker's own port (/metrics, /healthz) follows the web nodes' rules", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ webNodes: 0, workers: 0 });
  });
  after(() => stack.close());

  test("without users a worker refuses a non-loopback HOST, and answers only to its own names", async () => {
    const exposed = await startWorkerNode(loadConfig({ ...stack.env, HOST: "0.0.0.0" }), quiet).then(
      async (worker) => {
        const res = await rawRequest(worker.metricsUrl, { path: "/metrics", headers: { Host: "evil.example" } });
        await worker.close();
        return `started on 0.0.0.0 and served /metrics to anyone (${res.status})`;
      },
      (err: unknown) => err,
    );
    assert.ok(exposed instanceof ConfigError, String(exposed));
    assert.match(exposed.message, /Refusing to serve the worker's \/metrics on 0\.0\.0\.0 without sign-in.*TASKCAST_TOKENS.*ALLOW_INSECURE_NO_AUTH/);
    const worker = await stack.addWorker();
    const port = new URL(worker.metricsUrl).port;
    const rebound = await rawRequest(worker.metricsUrl, { path: "/metrics", headers: { Host: `evil.example:${port}` } });
    assert.equal(rebound.status, 403, rebound.text.slice(0, 200));
    assert.match(rebound.text, /answers only to localhost and the names in ALLOWED_HOSTS/);
    assert.equal((await rawRequest(worker.metricsUrl, { path: "/healthz", headers: { Host: `evil.example:${port}` } })).status, 403);
    assert.equal((await rawRequest(worker.metricsUrl, { path: "/metrics", headers: { Host: `localhost:${port}` } })).status, 200);
  });

  test("task types the registry does not know are counted under one label, (unknown)", async () => {
    const worker = stack.workers[0] ?? (await stack.addWorker());
    const conn = await connect(stack.config.RABBITMQ_URL);
    const types = Array.from({ length: 20 }, () => `made-up-${randomUUID()}`);
    try {
      const ch = await conn.createConfirmChannel();
      for (const type of types) ch.sendToQueue(stack.config.TASK_QUEUE, Buffer.from(JSON.stringify({ type, payload: {} })), { persistent: true });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const text = await eventually(async () => {
      const res = await rawRequest(worker.metricsUrl, { path: "/metrics" });
      const counted = /taskcast_tasks_finished_total\{[^}]*\} (\d+)/g;
      let total = 0;
      for (const m of res.text.matchAll(counted)) total += Number(m[1]);
      return total >= types.length ? res.text : undefined;
    }, "the worker to settle the made-up tasks");
    assert.ok(!types.some((t) => text.includes(t)), "no made-up type became a label");
    assert.match(text, /taskcast_tasks_finished_total\{[^}]*type="\(unknown\)"[^}]*\} 20/);
  });

  test("wrong tokens on a worker's /metrics are throttled by address, and /healthz has a per-address limit", async () => {
    const worker = await startWorkerNode(loadConfig({ ...stack.env, ...authEnv(), API_RATE: "1", API_BURST: "5" }), quiet);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await rawRequest(worker.metricsUrl, { path: "/metrics", headers: bearer(randomBytes(32).toString("base64url")) })).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
      assert.equal((await rawRequest(worker.metricsUrl, { path: "/metrics", headers: bearer(TOKENS.grafana) })).status, 200, "a valid token still scrapes");
      const health: number[] = [];
      for (let i = 0; i < 30; i++) health.push((await rawRequest(worker.metricsUrl, { path: "/healthz" })).status);
      assert.ok(health.includes(429), health.join(", "));
    } finally {
      await worker.close();
    }
  });
});

describe("while a broker is unreachable, clients get a generic 503 with its code; the details go to the log", () => {
  let stack: Stack;
  let rabbit: FaultProxy;
  let redis: FaultProxy;
  const rabbitUrl = process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672";
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  before(async () => {
    stack = await startStack({ webNodes: 0, workers: 0 });
    [rabbit, redis] = await Promise.all([FaultProxy.start(rabbitUrl), FaultProxy.start(redisUrl)]);
  });
  after(async () => {
    rabbit.restore();
    redis.restore();
    await stack.close();
    await Promise.all([rabbit.close(), redis.close()]);
  });

  /** What no answer may carry: a broker's address or port, or a driver's own words (which came in parentheses). */
  function assertGeneric(error: string, what: string): void {
    assert.doesNotMatch(error, /amqps?:\/\/|rediss?:\/\/|127\.0\.0\.1|\(|ECONN|enableOfflineQueue|Stream isn't writeable|Connection is closed/, what);
    for (const port of [rabbit.port, redis.port, new URL(rabbitUrl).port || "5672", new URL(redisUrl).port || "6379"]) assert.ok(!error.includes(String(port)), `${what} names port ${port}: ${error}`);
  }

  test("RabbitMQ down, then Redis down: the 503s and socket errors name neither the broker's address nor the driver's text", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
    const node = await startWebNode(loadConfig({ ...stack.env, RABBITMQ_URL: rabbit.via(rabbitUrl), REDIS_URL: redis.via(redisUrl) }), log);
    const health = async () => (await rawRequest(node.url, { path: "/healthz" })).body as { rabbitmq: string; redis: string };
    try {
      const socket = await stack.connectSocket(node.url);
      // RabbitMQ: connections dropped, new ones hang.
      rabbit.blackhole();
      rabbit.cut();
      await eventually(async () => ((await health()).rabbitmq === "down" ? true : undefined), "the node to see RabbitMQ down");
      const submit = await rawRequest(node.url, { method: "POST", path: "/api/tasks", body: { type: "echo" } });
      assert.equal(submit.status, 503, submit.text);
      assert.equal(submit.body.code, "unavailable");
      assert.match(submit.body.error, /RabbitMQ is not reachable/);
      assertGeneric(submit.body.error, "POST /api/tasks");
      const queue = await rawRequest(node.url, { path: "/api/queue" });
      assert.equal(queue.status, 503, queue.text);
      assertGeneric(queue.body.error, "GET /api/queue");
      const ack = (await socket.timeout(5000).emitWithAck("task:submit", { type: "echo" })) as { error?: string; code?: string };
      assert.equal(ack.code, "unavailable", JSON.stringify(ack));
      assertGeneric(ack.error ?? "", "the task:submit ack");
      rabbit.restore();
      await eventually(async () => ((await health()).rabbitmq === "up" ? true : undefined), "RabbitMQ to be back", 30_000);

      // Redis: the same.
      redis.blackhole();
      redis.cut();
      await eventually(async () => ((await health()).redis === "down" ? true : undefined), "the node to see Redis down");
      for (const req of [{ path: "/api/tasks" }, { method: "POST", path: "/api/broadcasts", body: { message: "hello" } }, { method: "POST", path: "/api/tasks", body: { type: "echo" } }]) {
        const res = await rawRequest(node.url, req);
        assert.equal(res.status, 503, `${req.path}: ${res.text}`);
        assert.equal(res.body.code, "unavailable");
        assert.match(res.body.error, /Redis|RabbitMQ/, "it still says which service is missing");
        assertGeneric(res.body.error, `${req.method ?? "GET"} ${req.path}`);
      }
      redis.restore();
      await eventually(async () => ((await health()).redis === "up" ? true : undefined), "Redis to be back", 30_000);
    } finally {
      rabbit.restore();
      redis.restore();
      await node.close();
    }
    // The log has what the answers left out.
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; cause?: string; code?: string });
    assert.ok(logged.some((l) => l.code === "unavailable" && /amqp:\/\/.*127\.0\.0\.1/.test(l.cause ?? "")), "the RabbitMQ address is logged");
    assert.ok(logged.some((l) => l.code === "unavailable" && l.msg.startsWith("Redis is not reachable") && l.cause), "the Redis driver's error is logged");
  });
});
