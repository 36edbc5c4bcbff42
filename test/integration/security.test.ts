// Secure by default, against real RabbitMQ and Redis: loopback-only without users, sign-in and roles, service
// tokens, CSRF and Host checks, security headers, rate limits, and a table of bad input over HTTP and Socket.IO.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import type { ManagerOptions, SocketOptions } from "socket.io-client";
import type { Broadcast, SubmitAck, TaskRecord } from "../../lib/contract";
import { ConfigError, loadConfig } from "../../server/config";
import { startWebNode } from "../../server/web-node";
import { authEnv, bearer, originOf, PASSWORDS, rawRequest, sessionCookie, signIn, TOKENS, type RawRequest, type RawResponse } from "../helpers/auth";
import { PrivateRedis, spawnWebNode } from "../helpers/processes";
import { eventually, startStack, type Stack, type TestSocket } from "../helpers/stack";

type SocketConnectOptions = Partial<ManagerOptions & SocketOptions>;

/** Connects, or resolves with the reason the server refused; never retries. */
async function refusal(stack: Stack, url: string, options: SocketConnectOptions): Promise<string> {
  try {
    const socket = await stack.connectSocket(url, { reconnection: false, ...options });
    socket.disconnect();
    return "connected";
  } catch (err) {
    return (err as Error).message;
  }
}

/** Waits for a task to reach a status, reading with the viewer token. */
function waitForStatus(stack: Stack, id: string, statuses: string[], timeoutMs = 15_000): Promise<TaskRecord> {
  return eventually(
    async () => {
      const res = await rawRequest(stack.nodes[0].url, { path: `/api/tasks/${id}`, headers: bearer(TOKENS.grafana) });
      return statuses.includes(res.body.status) ? (res.body as TaskRecord) : undefined;
    },
    `task ${id} to be ${statuses.join(" or ")}`,
    timeoutMs,
  );
}

const emit = (socket: TestSocket, event: "task:submit" | "broadcast:send", payload: unknown) => socket.timeout(5000).emitWithAck(event, payload as never) as Promise<SubmitAck>;

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: string[] = [];
  return { log: pino({ level: "warn" }, { write: (line: string) => void lines.push(line) }), lines };
}

const SECURITY_HEADERS = { "x-content-type-options": /^nosniff$/, "x-frame-options": /^DENY$/, "referrer-policy": /^same-origin$/, "content-security-policy": /frame-ancestors 'none'/ };

function assertSecurityHeaders(res: RawResponse, what: string): void {
  for (const [name, pattern] of Object.entries(SECURITY_HEADERS)) assert.match(String(res.headers[name] ?? ""), pattern, `${name} on ${what}`);
}

describe("with no users configured, Taskcast is a loopback-only local tool", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 0 });
  });
  after(() => stack.close());

  test("it refuses to start on 0.0.0.0 and says how to configure users; ALLOW_INSECURE_NO_AUTH starts it with a loud warning", async () => {
    const { log, lines } = capturingLogger();
    await assert.rejects(
      startWebNode(loadConfig({ ...stack.env, HOST: "0.0.0.0" }), log),
      (err: unknown) => err instanceof ConfigError && /Refusing to serve on 0\.0\.0\.0 without sign-in/.test(err.message) && /TASKCAST_USERS/.test(err.message) && /npm run auth -- hash-password/.test(err.message),
    );
    const node = await startWebNode(loadConfig({ ...stack.env, HOST: "0.0.0.0", ALLOW_INSECURE_NO_AUTH: "true", ALLOWED_HOSTS: "taskcast.example" }), log);
    try {
      assert.ok(lines.some((l) => JSON.parse(l).level === 40 && /ALLOW_INSECURE_NO_AUTH is set.*NO sign-in/.test(JSON.parse(l).msg)), lines.join(""));
      // Opted out: the names in ALLOWED_HOSTS are served, and everyone is an operator.
      const res = await rawRequest(node.url, { path: "/api/auth/session", headers: { Host: "taskcast.example:3000" } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { authRequired: false, principal: { kind: "local", name: "local", role: "operator" } });
    } finally {
      await node.close();
    }
  });

  test("a request naming another host (DNS rebinding) is refused on the API, on pages and on sockets", async () => {
    const url = stack.nodes[0].url;
    const evil = { Host: "evil.example:3000" };
    const apiRes = await rawRequest(url, { path: "/api/tasks", headers: evil });
    assert.equal(apiRes.status, 403);
    assert.equal(apiRes.body.code, "host_not_allowed");
    assert.match(apiRes.body.error, /answers only to localhost and the names in ALLOWED_HOSTS, not to "evil\.example:3000".*configure users/);
    const post = await rawRequest(url, { method: "POST", path: "/api/broadcasts", headers: evil, body: { message: "rebound" } });
    assert.equal(post.status, 403);
    const page = await rawRequest(url, { path: "/", headers: evil });
    assert.equal(page.status, 403);
    assert.match(page.text, /answers only to localhost/);
    assertSecurityHeaders(page, "the refused page");
    const handshake = await rawRequest(url, { path: "/socket.io/?EIO=4&transport=polling", headers: evil });
    assert.equal(handshake.status, 403);
    assert.match(handshake.body.message, /Host not allowed/);
    assert.match(await refusal(stack, url, { extraHeaders: evil }), /websocket error/);
    // The same requests under a loopback name are served.
    for (const host of [new URL(url).host, `localhost:${stack.nodes[0].port}`]) {
      assert.equal((await rawRequest(url, { path: "/api/tasks", headers: { Host: host } })).status, 200, host);
    }
    const broadcasts = await rawRequest(url, { path: "/api/broadcasts" });
    assert.ok(!broadcasts.body.broadcasts.some((b: Broadcast) => b.message === "rebound"));
  });

  test("everyone on localhost is the local operator, but a wrong Bearer token is still refused", async () => {
    const url = stack.nodes[0].url;
    const session = await rawRequest(url, { path: "/api/auth/session" });
    assert.deepEqual(session.body, { authRequired: false, principal: { kind: "local", name: "local", role: "operator" } });
    assert.equal((await rawRequest(url, { method: "POST", path: "/api/tasks", body: { type: "echo" } })).status, 202);
    const socket = await stack.connectSocket(url);
    assert.ok("id" in (await emit(socket, "task:submit", { type: "echo" })));
    const wrong = await rawRequest(url, { path: "/api/tasks", headers: bearer("not-a-configured-token-000000000000000") });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body.error, /Bearer token is not valid/);
    assert.match(String(wrong.headers["www-authenticate"]), /^Bearer/);
    assert.match(await refusal(stack, url, { auth: { token: "wrong" } }), /Bearer token is not valid/);
    const login = await rawRequest(url, { method: "POST", path: "/api/auth/login", body: { username: "alice", password: "x" } });
    assert.equal(login.status, 409);
    assert.match(login.body.error, /No users are configured/);
  });

  test("a state change from a foreign Origin is refused even without sign-in", async () => {
    const url = stack.nodes[0].url;
    const res = await rawRequest(url, { method: "POST", path: "/api/broadcasts", headers: { Origin: "http://evil.example" }, body: { message: "csrf" } });
    assert.equal(res.status, 403);
    assert.equal(res.body.code, "cross_site");
    const viaReferer = await rawRequest(url, { method: "POST", path: "/api/broadcasts", headers: { Referer: "http://evil.example/page" }, body: { message: "csrf" } });
    assert.equal(viaReferer.status, 403);
    assert.equal((await rawRequest(url, { method: "POST", path: "/api/broadcasts", headers: { Origin: originOf(url) }, body: { message: "same origin" } })).status, 202);
    const { body } = await rawRequest(url, { path: "/api/broadcasts" });
    assert.deepEqual(
      body.broadcasts.map((b: Broadcast) => b.message),
      ["same origin"],
    );
  });

  test("pages carry the security headers and a fresh script nonce in their policy", async () => {
    const url = stack.nodes[0].url;
    // No Next.js handler in a test node: the page is a plain 404, which must still carry the headers.
    const first = await rawRequest(url, { path: "/tasks" });
    const second = await rawRequest(url, { path: "/tasks" });
    assert.equal(first.status, 404);
    assertSecurityHeaders(first, "a page");
    const nonceOf = (res: RawResponse) => /script-src 'self' 'nonce-([A-Za-z0-9+/=]+)' 'strict-dynamic'/.exec(String(res.headers["content-security-policy"]))?.[1];
    assert.ok(nonceOf(first) && nonceOf(second));
    assert.notEqual(nonceOf(first), nonceOf(second), "one nonce per response");
    const apiRes = await rawRequest(url, { path: "/api/queue" });
    assertSecurityHeaders(apiRes, "the API");
    assert.match(String(apiRes.headers["content-security-policy"]), /default-src 'none'/);
    assert.equal(apiRes.headers["strict-transport-security"], undefined, "HSTS only over HTTPS");
  });
});

describe("with users and service tokens", () => {
  let stack: Stack;
  let url: string;
  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 1, env: authEnv() });
    url = stack.nodes[0].url;
  });
  after(() => stack.close());

  const get = (path: string, headers: Record<string, string> = {}) => rawRequest(url, { path, headers });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}, base = url) => rawRequest(base, { method: "POST", path, body, headers });

  test("without credentials the API answers 401 with WWW-Authenticate; /healthz and the session probe stay public", async () => {
    for (const path of ["/api/tasks", "/api/queue", "/api/queues", "/api/broadcasts", "/api/audit", "/api/nothing-here"]) {
      const res = await get(path);
      assert.equal(res.status, 401, path);
      assert.equal(res.body.code, "unauthenticated");
      assert.match(res.body.error, /Sign in first, or send Authorization: Bearer <token>/);
      assert.equal(res.headers["www-authenticate"], 'Bearer realm="taskcast"');
    }
    assert.equal((await post("/api/tasks", { type: "echo" })).status, 401);
    assert.equal((await get("/healthz")).status, 200);
    assert.deepEqual((await get("/api/auth/session")).body, { authRequired: true, principal: null });
    // A page without a session is sent to the sign-in page, which itself is served.
    const page = await get("/tasks?status=dead");
    assert.equal(page.status, 303);
    assert.equal(page.headers.location, "/login?next=%2Ftasks%3Fstatus%3Ddead");
    assertSecurityHeaders(page, "the redirect");
    const login = await get("/login");
    assert.equal(login.status, 404, "no Next.js in a test node, but not redirected");
    assertSecurityHeaders(login, "the sign-in page");
    assert.match(String(login.headers["content-security-policy"]), /script-src 'self' 'nonce-[A-Za-z0-9+/=]+'/);
  });

  test("a viewer token reads everything and changes nothing; the operator token submits, broadcasts, cancels, retries and discards", async () => {
    const viewer = bearer(TOKENS.grafana);
    const operator = bearer(TOKENS.ci);
    for (const path of ["/api/tasks", "/api/queue", "/api/queues", "/api/broadcasts", "/api/dead-letters", "/api/task-types", "/api/audit"]) assert.equal((await get(path, viewer)).status, 200, path);
    assert.deepEqual((await get("/api/auth/session", viewer)).body.principal, { kind: "token", name: "grafana", role: "viewer" });

    // One task in each state an action needs, made with the operator token.
    const submitted = async (body: object) => {
      const res = await post("/api/tasks", body, operator);
      assert.equal(res.status, 202, res.text);
      return res.body.id as string;
    };
    const running = await submitted({ type: "sleep", payload: { ms: 60_000 } });
    const failed = await submitted({ type: "fail" });
    const dead = await submitted({ type: "flaky", payload: { failures: 10 } });
    await Promise.all([waitForStatus(stack, running, ["running"]), waitForStatus(stack, failed, ["failed"]), waitForStatus(stack, dead, ["dead"], 20_000)]);

    const marker = `viewer-${randomUUID()}`;
    const refused: Array<[string, unknown]> = [
      ["/api/tasks", { type: "echo", payload: { marker } }],
      ["/api/broadcasts", { message: marker }],
      [`/api/tasks/${running}/cancel`, {}],
      [`/api/tasks/${failed}/retry`, {}],
      [`/api/tasks/${dead}/discard`, {}],
    ];
    for (const [path, body] of refused) {
      const res = await post(path, body, viewer);
      assert.equal(res.status, 403, path);
      assert.equal(res.body.code, "forbidden");
      assert.match(res.body.error, /grafana has the viewer role, which sees everything but changes nothing; POST .* needs the operator role/);
    }
    const tasks = (await get("/api/tasks?limit=500", viewer)).body.tasks as TaskRecord[];
    assert.ok(!tasks.some((t) => JSON.stringify(t.payload).includes(marker)), "the viewer's task was not enqueued");
    assert.ok(!(await get("/api/broadcasts?limit=500", viewer)).body.broadcasts.some((b: Broadcast) => b.message === marker), "nor its broadcast sent");
    assert.equal((await waitForStatus(stack, running, ["running"])).status, "running");
    assert.equal((await waitForStatus(stack, failed, ["failed"])).status, "failed");
    assert.equal((await get(`/api/tasks/${dead}`, viewer)).body.discardedAt, undefined);

    assert.equal((await post(`/api/tasks/${running}/cancel`, {}, operator)).status, 202);
    assert.equal((await post(`/api/tasks/${failed}/retry`, {}, operator)).status, 202);
    assert.equal((await post(`/api/tasks/${dead}/discard`, {}, operator)).status, 200);
    assert.equal((await post("/api/broadcasts", { message: `operator ${marker}` }, operator)).status, 202);
    await waitForStatus(stack, running, ["cancelled"]);
    assert.ok((await get(`/api/tasks/${dead}`, viewer)).body.discardedAt);
  });

  test("sign-in sets an HttpOnly, SameSite=Lax session cookie for the whole site; a wrong password is 401 and sets none", async () => {
    const ok = await post("/api/auth/login", { username: "alice", password: PASSWORDS.alice });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.body, { authRequired: true, principal: { kind: "user", name: "alice", role: "operator" } });
    const setCookie = ok.headers["set-cookie"]?.[0] ?? "";
    assert.match(setCookie, /^taskcast_session=[\w-]+\.[\w-]+;/);
    assert.match(setCookie, /; HttpOnly/i);
    assert.match(setCookie, /; SameSite=Lax/i);
    assert.match(setCookie, /; Path=\//);
    assert.match(setCookie, /; Max-Age=43200/, "SESSION_TTL_HOURS defaults to 12");
    assert.doesNotMatch(setCookie, /; Secure/i, "plain HTTP, COOKIE_SECURE=auto");
    assert.deepEqual((await get("/api/auth/session", { Cookie: sessionCookie(ok) })).body.principal, { kind: "user", name: "alice", role: "operator" });

    for (const [username, password] of [
      ["alice", PASSWORDS.bob],
      ["nobody", PASSWORDS.alice],
    ]) {
      const wrong = await post("/api/auth/login", { username, password });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error, "Wrong username or password.", "the same answer for an unknown name");
      assert.equal(wrong.headers["set-cookie"], undefined);
    }
    // A cookie whose signature does not match is not a session.
    const [name, value] = sessionCookie(ok).split("=");
    const forged = `${name}=${value.split(".")[0]}.${randomBytes(32).toString("base64url")}`;
    assert.equal((await get("/api/tasks", { Cookie: forged })).status, 401);
  });

  test("a signed-in state change needs the node's own Origin (CSRF); a viewer's is forbidden", async () => {
    const alice = await signIn(url, "alice", PASSWORDS.alice);
    const message = `csrf-${randomUUID()}`;
    const noOrigin = await post("/api/broadcasts", { message }, { Cookie: alice });
    assert.equal(noOrigin.status, 403);
    assert.match(noOrigin.body.error, /must carry an Origin header/);
    const foreign = await post("/api/broadcasts", { message }, { Cookie: alice, Origin: "http://evil.example" });
    assert.equal(foreign.status, 403);
    assert.match(foreign.body.error, /Requests from http:\/\/evil\.example may not change anything here/);
    const otherPort = await post("/api/broadcasts", { message }, { Cookie: alice, Origin: originOf(stack.nodes[1].url) });
    assert.equal(otherPort.status, 403, "another port is another origin");
    assert.ok(!(await get("/api/broadcasts?limit=500", { Cookie: alice })).body.broadcasts.some((b: Broadcast) => b.message === message));
    const own = await post("/api/broadcasts", { message }, { Cookie: alice, Origin: originOf(url) });
    assert.equal(own.status, 202, own.text);
    const byReferer = await post("/api/tasks", { type: "echo" }, { Cookie: alice, Referer: `${url}/tasks` });
    assert.equal(byReferer.status, 202, "a Referer from the node's own pages counts as its Origin");
    const bob = await signIn(url, "bob", PASSWORDS.bob);
    const viewer = await post("/api/broadcasts", { message }, { Cookie: bob, Origin: originOf(url) });
    assert.equal(viewer.status, 403);
    assert.match(viewer.body.error, /bob has the viewer role/);
  });

  test("signing out ends the session on every web node and disconnects the sockets opened with it", async () => {
    const cookie = await signIn(url, "alice", PASSWORDS.alice);
    const otherUrl = stack.nodes[1].url;
    const socket = await stack.connectSocket(stack.nodes[1], { extraHeaders: { Cookie: cookie, Origin: originOf(otherUrl) } });
    let disconnected = "";
    socket.on("disconnect", (reason) => (disconnected = reason));
    assert.equal((await rawRequest(otherUrl, { path: "/api/auth/session", headers: { Cookie: cookie } })).body.principal.name, "alice");
    const out = await post("/api/auth/logout", {}, { Cookie: cookie, Origin: originOf(url) });
    assert.equal(out.status, 200);
    assert.match(out.headers["set-cookie"]?.[0] ?? "", /^taskcast_session=; Max-Age=0/);
    for (const base of [url, otherUrl]) {
      const res = await rawRequest(base, { path: "/api/tasks", headers: { Cookie: cookie } });
      assert.equal(res.status, 401, `the cookie on ${base}`);
    }
    await eventually(async () => (disconnected ? true : undefined), "the session's socket to be disconnected");
    assert.equal(disconnected, "io server disconnect");
    assert.match(await refusal(stack, otherUrl, { extraHeaders: { Cookie: cookie, Origin: originOf(otherUrl) } }), /Sign in required/);
  });

  test("sign-in attempts past LOGIN_ATTEMPTS_PER_MINUTE are refused with 429 and Retry-After, even with the right password", async () => {
    const node = await startWebNode(loadConfig({ ...stack.env, LOGIN_ATTEMPTS_PER_MINUTE: "3" }), pino({ level: "silent" }));
    try {
      for (let i = 0; i < 3; i++) assert.equal((await post("/api/auth/login", { username: "alice", password: "guess" }, {}, node.url)).status, 401);
      const limited = await post("/api/auth/login", { username: "alice", password: PASSWORDS.alice }, {}, node.url);
      assert.equal(limited.status, 429);
      assert.equal(limited.body.code, "rate_limited");
      assert.match(limited.body.error, /Too many sign-in attempts.*at most 3 a minute/);
      const retryAfter = Number(limited.headers["retry-after"]);
      assert.ok(retryAfter >= 1 && retryAfter <= 20, String(retryAfter));
      assert.equal(limited.headers["set-cookie"], undefined);
      // The limit is per web node and per address: the other node still signs alice in.
      assert.equal((await post("/api/auth/login", { username: "alice", password: PASSWORDS.alice }, {}, stack.nodes[1].url)).status, 200);
    } finally {
      await node.close();
    }
  });

  test("a socket needs a session or a token: none, a forged cookie and a wrong token are refused", async () => {
    assert.match(await refusal(stack, url, {}), /Sign in required/);
    assert.match(await refusal(stack, url, { extraHeaders: { Cookie: "taskcast_session=abc.def", Origin: originOf(url) } }), /Sign in required/);
    assert.match(await refusal(stack, url, { auth: { token: "wrong" } }), /Bearer token is not valid/);
    const cookie = await signIn(url, "alice", PASSWORDS.alice);
    const bySession = await stack.connectSocket(url, { extraHeaders: { Cookie: cookie, Origin: originOf(url) } });
    const byToken = await stack.connectSocket(stack.nodes[1], { auth: { token: TOKENS.ci } });
    assert.ok("id" in (await emit(bySession, "task:submit", { type: "echo" })));
    assert.ok("id" in (await emit(byToken, "broadcast:send", { message: "from a service socket" })));
  });

  test("a viewer's socket may watch but its task:submit and broadcast:send are refused, and nothing is enqueued or sent", async () => {
    const bob = await signIn(url, "bob", PASSWORDS.bob);
    const sockets = [await stack.connectSocket(url, { extraHeaders: { Cookie: bob, Origin: originOf(url) } }), await stack.connectSocket(stack.nodes[1], { auth: { token: TOKENS.grafana } })];
    const watcher = await stack.connectSocket(stack.nodes[1], { auth: { token: TOKENS.ci } });
    const seen: Broadcast[] = [];
    watcher.on("broadcast", (b) => seen.push(b));
    const marker = `viewer-socket-${randomUUID()}`;
    for (const [socket, name] of [
      [sockets[0], "bob"],
      [sockets[1], "grafana"],
    ] as const) {
      const submitted = await emit(socket, "task:submit", { type: "echo", payload: { marker } });
      assert.ok("error" in submitted);
      assert.match(submitted.error, new RegExp(`${name} has the viewer role and may not submit tasks; ask for the operator role`));
      const sent = await emit(socket, "broadcast:send", { message: marker });
      assert.ok("error" in sent);
      assert.match(sent.error, /has the viewer role and may not broadcast/);
    }
    // An operator's broadcast after them arrives; theirs never did.
    const operatorSent = await emit(watcher, "broadcast:send", { message: `${marker}-operator` });
    assert.ok("id" in operatorSent);
    await eventually(async () => (seen.some((b) => b.id === operatorSent.id) ? true : undefined), "the operator's broadcast");
    assert.ok(!seen.some((b) => b.message === marker));
    const tasks = (await get("/api/tasks?limit=500", bearer(TOKENS.grafana))).body.tasks as TaskRecord[];
    assert.ok(!tasks.some((t) => JSON.stringify(t.payload).includes(marker)));
  });

  test("a cross-origin WebSocket is refused even with a valid session", async () => {
    const cookie = await signIn(url, "alice", PASSWORDS.alice);
    assert.match(await refusal(stack, url, { extraHeaders: { Cookie: cookie, Origin: "http://evil.example" } }), /websocket error/);
    assert.match(await refusal(stack, url, { transports: ["polling"], extraHeaders: { Cookie: cookie, Origin: "http://evil.example" } }), /xhr poll error/);
    const upgrade = await rawRequest(url, {
      path: "/socket.io/?EIO=4&transport=websocket",
      headers: { Cookie: cookie, Origin: "http://evil.example", Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": randomBytes(16).toString("base64") },
    });
    assert.equal(upgrade.status, 400);
    assert.match(upgrade.text, /Origin not allowed/);
    assert.equal(await refusal(stack, url, { extraHeaders: { Cookie: cookie, Origin: originOf(url) } }), "connected");
  });
});

/** Who a table case acts as. */
type As = "operator" | "viewer" | "none" | "wrong-token" | "flood" | "alice-cookie" | "alice-cookie-foreign";

interface HttpCase {
  name: string;
  http: RawRequest & { as?: As; repeat?: number };
  status: number;
  error?: RegExp;
  headers?: Record<string, RegExp>;
  /** Accepted cases: what must be stored, verbatim. */
  stores?: { task: Record<string, unknown> } | { broadcast: string };
}

interface SocketCase {
  name: string;
  socket: { as?: As; origin?: string; auth?: Record<string, unknown> } & ({ event: "task:submit" | "broadcast:send"; payload: unknown; repeat?: number } | { handshake: true });
  /** The handshake's refusal, or the ack's error; omitted: the ack carries an id. */
  error?: RegExp;
  stores?: { task: Record<string, unknown> } | { broadcast: string };
}

const FLOOD_TOKEN = randomBytes(32).toString("base64url");
const XSS = `<script>alert("x")</script><img src=x onerror="alert(1)"><a href="javascript:alert(2)">hi</a>`;
const upgradeHeaders = () => ({ Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": randomBytes(16).toString("base64") });

const httpCases: HttpCase[] = [
  // Tasks: malformed, wrong types, missing and extra fields, unknown types, priorities.
  { name: "malformed JSON", http: { method: "POST", path: "/api/tasks", body: '{"type": "echo",' }, status: 400, error: /not valid JSON/ },
  { name: "an empty body", http: { method: "POST", path: "/api/tasks", body: "" }, status: 400, error: /body is empty/ },
  { name: "a JSON string instead of an object", http: { method: "POST", path: "/api/tasks", body: '"echo"' }, status: 400, error: /Invalid task/ },
  { name: "a missing type", http: { method: "POST", path: "/api/tasks", body: { payload: {} } }, status: 400, error: /type/ },
  { name: "a type of the wrong type", http: { method: "POST", path: "/api/tasks", body: { type: ["echo"] } }, status: 400, error: /type/ },
  { name: "an extra field", http: { method: "POST", path: "/api/tasks", body: { type: "echo", runAs: "root" } }, status: 400, error: /runAs/ },
  { name: "an unknown task type", http: { method: "POST", path: "/api/tasks", body: { type: "<script>x</script>" } }, status: 400, error: /Unknown task type.*Known types: .*echo/ },
  { name: "a priority above 9", http: { method: "POST", path: "/api/tasks", body: { type: "echo", priority: 10 } }, status: 400, error: /priority must be from 0 to 9/ },
  { name: "a fractional priority", http: { method: "POST", path: "/api/tasks", body: { type: "echo", priority: 1.5 } }, status: 400, error: /priority must be an integer/ },
  { name: "a priority given as text", http: { method: "POST", path: "/api/tasks", body: { type: "echo", priority: "high" } }, status: 400, error: /priority must be an integer/ },
  { name: "a payload that is an array", http: { method: "POST", path: "/api/tasks", body: { type: "echo", payload: [1] } }, status: 400, error: /payload/ },
  { name: "a payload of the wrong shape", http: { method: "POST", path: "/api/tasks", body: { type: "sleep", payload: { ms: -5 } } }, status: 400, error: /Invalid payload for "sleep"/ },
  { name: "a too long Idempotency-Key", http: { method: "POST", path: "/api/tasks", headers: { "Idempotency-Key": "k".repeat(1000) }, body: { type: "echo" } }, status: 400, error: /Idempotency-Key/ },
  // Oversized bodies: declared, declared but not sent, and streamed without Content-Length.
  { name: "a body over 64 KiB", http: { method: "POST", path: "/api/tasks", body: { type: "echo", payload: { blob: "x".repeat(70 * 1024) } } }, status: 413, error: /limit is 65536 bytes/, headers: { connection: /close/ } },
  { name: "a declared 10 MB body, refused before it is sent", http: { method: "POST", path: "/api/tasks", headers: { "Content-Length": String(10 * 1024 * 1024) }, endlessBody: 16 * 1024 }, status: 413, error: /10485760 bytes; the limit is 65536/ },
  { name: "a chunked body without Content-Length that never ends", http: { method: "POST", path: "/api/tasks", endlessBody: 96 * 1024 }, status: 413, error: /over the limit of 65536 bytes/ },
  { name: "a chunked broadcast that never ends", http: { method: "POST", path: "/api/broadcasts", endlessBody: 96 * 1024 }, status: 413, error: /over the limit/ },
  { name: "a sign-in body over 4 KiB", http: { method: "POST", path: "/api/auth/login", as: "none", body: { username: "alice", password: "p".repeat(5000) } }, status: 413, error: /limit is 4096 bytes/ },
  // Script and HTML are data: accepted and stored verbatim (Playwright proves they render as text).
  { name: "script and HTML in a task payload", http: { method: "POST", path: "/api/tasks", body: { type: "echo", payload: { note: XSS } } }, status: 202, stores: { task: { note: XSS } } },
  { name: "script and HTML in a broadcast", http: { method: "POST", path: "/api/broadcasts", body: { message: XSS } }, status: 202, stores: { broadcast: XSS } },
  // Broadcasts.
  { name: "an empty broadcast", http: { method: "POST", path: "/api/broadcasts", body: { message: "" } }, status: 400, error: /must not be empty/ },
  { name: "a whitespace-only broadcast", http: { method: "POST", path: "/api/broadcasts", body: { message: " \n\t " } }, status: 400, error: /must not be empty/ },
  { name: "a broadcast over 4 KiB", http: { method: "POST", path: "/api/broadcasts", body: { message: "€".repeat(1366) } }, status: 413, error: /4098 bytes; a broadcast may be at most 4096/ },
  { name: "a broadcast that is not text", http: { method: "POST", path: "/api/broadcasts", body: { message: { html: "<b>" } } }, status: 400, error: /message must be a string/ },
  { name: "a broadcast with an extra field", http: { method: "POST", path: "/api/broadcasts", body: { message: "hi", source: "redis" } }, status: 400, error: /source/ },
  { name: "a broadcast to an invalid channel", http: { method: "POST", path: "/api/broadcasts", body: { message: "hi", channel: "../admin" } }, status: 400, error: /channel must be 1 to 64 letters/ },
  { name: "a broadcast to a too long channel", http: { method: "POST", path: "/api/broadcasts", body: { message: "hi", channel: "c".repeat(65) } }, status: 400, error: /channel must be 1 to 64/ },
  // Task actions.
  { name: "cancelling an unknown task", http: { method: "POST", path: "/api/tasks/no-such-task/cancel" }, status: 404, error: /No task with id "no-such-task"/ },
  { name: "a retry with malformed JSON", http: { method: "POST", path: "/api/tasks/no-such-task/retry", body: "{payload" }, status: 400, error: /not valid JSON/ },
  { name: "a retry with an extra field", http: { method: "POST", path: "/api/tasks/no-such-task/retry", body: { payload: {}, priority: 9 } }, status: 400, error: /Invalid retry/ },
  { name: "a sign-in with a missing password", http: { method: "POST", path: "/api/auth/login", as: "none", body: { username: "alice" } }, status: 400, error: /password/ },
  { name: "a sign-in with a username of the wrong type", http: { method: "POST", path: "/api/auth/login", as: "none", body: { username: 1, password: "x" } }, status: 400, error: /username/ },
  // Routes, methods and query parameters.
  { name: "an unknown API route", http: { path: "/api/admin" }, status: 404, error: /No API route \/api\/admin/ },
  { name: "a path below a task", http: { path: "/api/tasks/a/b/c" }, status: 404, error: /No API route/ },
  { name: "DELETE on the task list", http: { method: "DELETE", path: "/api/tasks" }, status: 405, error: /DELETE is not allowed on \/api\/tasks; use POST or GET/, headers: { allow: /POST, GET/ } },
  { name: "PUT on broadcasts", http: { method: "PUT", path: "/api/broadcasts", body: { message: "x" } }, status: 405, error: /use POST or GET/ },
  { name: "GET on the sign-in route", http: { path: "/api/auth/login", as: "none" }, status: 405, error: /use POST/ },
  { name: "a limit that is not a number", http: { path: "/api/tasks?limit=all" }, status: 400, error: /Invalid query: limit/ },
  { name: "a limit over 500", http: { path: "/api/tasks?limit=100000" }, status: 400, error: /Invalid query: limit/ },
  { name: "an unknown status filter", http: { path: "/api/tasks?status=hacked" }, status: 400, error: /Invalid query: status/ },
  { name: "an invalid channel filter", http: { path: "/api/broadcasts?channels=ok,../etc" }, status: 400, error: /Invalid query: channels/ },
  { name: "a broadcast cursor that is not an id", http: { path: "/api/broadcasts?after=yesterday" }, status: 400, error: /after must be a broadcast id/ },
  { name: "an audit cursor that is not an id", http: { path: "/api/audit?before=1;DROP" }, status: 400, error: /before must be an audit entry id/ },
  { name: "an unknown audit action", http: { path: "/api/audit?action=task.delete" }, status: 400, error: /Invalid query: action/ },
  // Missing, wrong and viewer credentials for operator actions.
  { name: "a submission without a token", http: { method: "POST", path: "/api/tasks", as: "none", body: { type: "echo" } }, status: 401, error: /Sign in first/, headers: { "www-authenticate": /^Bearer realm="taskcast"$/ } },
  { name: "a broadcast with a wrong token", http: { method: "POST", path: "/api/broadcasts", as: "wrong-token", body: { message: "x" } }, status: 401, error: /Bearer token is not valid/ },
  { name: "a Basic Authorization header", http: { method: "POST", path: "/api/tasks", as: "none", headers: { Authorization: "Basic YWxpY2U6eA==" }, body: { type: "echo" } }, status: 401, error: /must be `Bearer <token>`/ },
  { name: "a submission with a viewer token", http: { method: "POST", path: "/api/tasks", as: "viewer", body: { type: "echo" } }, status: 403, error: /viewer role/ },
  { name: "a broadcast with a viewer token", http: { method: "POST", path: "/api/broadcasts", as: "viewer", body: { message: "x" } }, status: 403, error: /viewer role/ },
  { name: "a retry with a viewer token", http: { method: "POST", path: "/api/tasks/any/retry", as: "viewer", body: {} }, status: 403, error: /viewer role/ },
  { name: "a cookie-authenticated submission without Origin", http: { method: "POST", path: "/api/tasks", as: "alice-cookie", body: { type: "echo" } }, status: 403, error: /must carry an Origin header/ },
  { name: "a cookie-authenticated broadcast from another site", http: { method: "POST", path: "/api/broadcasts", as: "alice-cookie-foreign", body: { message: "csrf" } }, status: 403, error: /cross-site request forgery/ },
  // Cross-origin WebSocket, over both transports.
  { name: "a cross-origin WebSocket upgrade", http: { path: "/socket.io/?EIO=4&transport=websocket", as: "none", headers: { Origin: "http://evil.example", ...upgradeHeaders() } }, status: 400, error: /Origin not allowed/ },
  { name: "a cross-origin polling handshake", http: { path: "/socket.io/?EIO=4&transport=polling", as: "none", headers: { Origin: "http://evil.example" } }, status: 403, error: /Origin not allowed/ },
  // A flood past the API rate limit (API_BURST=60, API_RATE=1 in this stack).
  { name: "a flood past the API rate limit", http: { path: "/api/queue", as: "flood", repeat: 80 }, status: 429, error: /Too many requests: at most 1 a second \(bursts of 60\) per client/, headers: { "retry-after": /^[1-9]\d*$/ } },
  // Guessing tokens is throttled too (by address); this empties 127.0.0.1's bucket, so it comes last.
  { name: "a flood of wrong tokens", http: { path: "/api/queue", as: "wrong-token", repeat: 80 }, status: 429, error: /Too many requests/, headers: { "retry-after": /^[1-9]\d*$/ } },
];

const socketCases: SocketCase[] = [
  { name: "a handshake without a session or token", socket: { as: "none", handshake: true }, error: /Sign in required/ },
  { name: "a handshake with a wrong token", socket: { as: "wrong-token", handshake: true }, error: /Bearer token is not valid/ },
  { name: "a handshake whose token is not text", socket: { as: "none", auth: { token: { $ne: null } }, handshake: true }, error: /auth.token must be a string/ },
  { name: "a handshake with an invalid channel", socket: { auth: { channels: ["<script>"] }, handshake: true }, error: /Invalid handshake: channels/ },
  { name: "a cross-origin WebSocket", socket: { origin: "http://evil.example", handshake: true }, error: /websocket error/ },
  { name: "a task that is not an object", socket: { event: "task:submit", payload: "echo" }, error: /Invalid task/ },
  { name: "a task without a type", socket: { event: "task:submit", payload: { payload: {} } }, error: /type/ },
  { name: "a task of an unknown type", socket: { event: "task:submit", payload: { type: "rm" } }, error: /Unknown task type "rm"/ },
  { name: "a task with an invalid priority", socket: { event: "task:submit", payload: { type: "echo", priority: -1 } }, error: /priority must be from 0 to 9/ },
  { name: "a task with an extra field", socket: { event: "task:submit", payload: { type: "echo", owner: "root" } }, error: /owner/ },
  { name: "a task payload over 64 KiB", socket: { event: "task:submit", payload: { type: "echo", payload: { blob: "x".repeat(80 * 1024) } } }, error: /65536 bytes/ },
  { name: "a task from a viewer", socket: { as: "viewer", event: "task:submit", payload: { type: "echo" } }, error: /grafana has the viewer role and may not submit tasks/ },
  { name: "script and HTML in a task payload", socket: { event: "task:submit", payload: { type: "echo", payload: { html: XSS } } }, stores: { task: { html: XSS } } },
  { name: "an empty broadcast", socket: { event: "broadcast:send", payload: { message: "" } }, error: /must not be empty/ },
  { name: "a broadcast that is not an object", socket: { event: "broadcast:send", payload: null }, error: /Invalid|expected object/ },
  { name: "a broadcast over 4 KiB", socket: { event: "broadcast:send", payload: { message: "x".repeat(4097) } }, error: /4097 bytes; a broadcast may be at most 4096/ },
  { name: "a broadcast to an invalid channel", socket: { event: "broadcast:send", payload: { message: "hi", channel: "a b" } }, error: /channel must be/ },
  { name: "a broadcast with an extra field", socket: { event: "broadcast:send", payload: { message: "hi", id: "1" } }, error: /id/ },
  { name: "a broadcast from a viewer", socket: { as: "viewer", event: "broadcast:send", payload: { message: "hi" } }, error: /grafana has the viewer role and may not broadcast/ },
  { name: "script and HTML in a broadcast", socket: { event: "broadcast:send", payload: { message: `socket ${XSS}` } }, stores: { broadcast: `socket ${XSS}` } },
  // A flood of events past API_BURST (from a token of its own: the limit counts all of a token's connections): the last ones are refused and not done.
  { name: "a flood of events past the token's rate limit", socket: { as: "flood", event: "task:submit", payload: { type: "no-such-type" }, repeat: 80 }, error: /Too many socket events from flood: at most 1 a second \(bursts of 60\), over all its connections/ },
];

describe("every bad input is refused with a clear error, and nothing is enqueued or broadcast", () => {
  let stack: Stack;
  let url: string;
  let aliceCookie: string;
  const accepted = { tasks: new Map<string, Record<string, unknown>>(), broadcasts: new Map<string, string>() };
  before(async () => {
    stack = await startStack({ workers: 0, env: { ...authEnv([`flood:operator:${FLOOD_TOKEN}`]), API_RATE: "1", API_BURST: "60" } });
    url = stack.nodes[0].url;
    aliceCookie = await signIn(url, "alice", PASSWORDS.alice);
  });
  after(() => stack.close());

  function headersFor(as: As): Record<string, string> {
    switch (as) {
      case "operator":
        return bearer(TOKENS.ci);
      case "viewer":
        return bearer(TOKENS.grafana);
      case "flood":
        return bearer(FLOOD_TOKEN);
      case "wrong-token":
        return bearer(randomBytes(32).toString("base64url"));
      case "alice-cookie":
        return { Cookie: aliceCookie };
      case "alice-cookie-foreign":
        return { Cookie: aliceCookie, Origin: "http://evil.example" };
      case "none":
        return {};
    }
  }

  function remember(stores: HttpCase["stores"], id: string): void {
    if (!stores) return;
    if ("task" in stores) accepted.tasks.set(id, stores.task);
    else accepted.broadcasts.set(id, stores.broadcast);
  }

  for (const c of httpCases) {
    test(`HTTP: ${c.name} → ${c.status}`, async () => {
      const { as = "operator", repeat = 1, ...req } = c.http;
      let res!: RawResponse;
      for (let i = 0; i < repeat; i++) res = await rawRequest(url, { ...req, headers: { ...headersFor(as), ...req.headers } });
      assert.equal(res.status, c.status, res.text);
      if (c.error) {
        const message = typeof res.body === "object" ? (res.body.error ?? res.body.message) : res.text;
        assert.match(String(message), c.error);
      }
      if (typeof res.body === "object" && res.body.error) assert.match(String(res.headers["content-type"]), /^application\/json/);
      for (const [name, pattern] of Object.entries(c.headers ?? {})) assert.match(String(res.headers[name] ?? ""), pattern, name);
      remember(c.stores, res.body.id);
    });
  }

  for (const c of socketCases) {
    test(`Socket.IO: ${c.name}${c.error ? " is refused" : " is accepted"}`, async () => {
      const { as = "operator", origin, auth = {} } = c.socket;
      const headers = headersFor(as);
      const options: SocketConnectOptions = {
        auth: { ...(headers.Authorization ? { token: headers.Authorization.slice("Bearer ".length) } : {}), ...auth },
        ...(origin ? { extraHeaders: { Origin: origin } } : {}),
      };
      if ("handshake" in c.socket) {
        assert.match(await refusal(stack, url, options), c.error!);
        return;
      }
      const socket = await stack.connectSocket(url, options);
      const { event, payload, repeat = 1 } = c.socket;
      const replies = await Promise.all(Array.from({ length: repeat }, () => emit(socket, event, payload)));
      const reply = replies.at(-1)!;
      if (c.error) {
        assert.ok("error" in reply, JSON.stringify(reply));
        assert.match(reply.error, c.error);
      } else {
        assert.ok("id" in reply, JSON.stringify(reply));
        remember(c.stores, reply.id);
      }
      if (repeat > 1) assert.ok(replies.slice(0, 60).every((r) => "error" in r && /Unknown task type/.test(r.error)), "the burst itself is answered normally");
    });
  }

  test("afterwards exactly the accepted tasks are queued, verbatim, and exactly the accepted broadcasts were sent", async () => {
    const headers = bearer(TOKENS.grafana);
    assert.equal(accepted.tasks.size, 2);
    assert.equal(accepted.broadcasts.size, 2);
    const queue = await eventually(async () => {
      const { body } = await rawRequest(url, { path: "/api/queue", headers });
      return body.ready === accepted.tasks.size ? body : undefined;
    }, `the queue to hold the ${accepted.tasks.size} accepted tasks`);
    assert.equal(queue.consumers, 0);
    const tasks = (await rawRequest(url, { path: "/api/tasks?limit=500", headers })).body.tasks as TaskRecord[];
    assert.deepEqual(tasks.map((t) => t.id).sort(), [...accepted.tasks.keys()].sort());
    for (const task of tasks) assert.deepEqual(task.payload, accepted.tasks.get(task.id));
    const broadcasts = (await rawRequest(url, { path: "/api/broadcasts?limit=500", headers })).body.broadcasts as Broadcast[];
    assert.deepEqual(broadcasts.map((b) => b.id).sort(), [...accepted.broadcasts.keys()].sort());
    for (const b of broadcasts) assert.equal(b.message, accepted.broadcasts.get(b.id), "stored as sent, not escaped or stripped");
  });

  test("afterwards the service is healthy and other clients were never limited", async () => {
    const health = await rawRequest(url, { path: "/healthz" });
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: "ok", rabbitmq: "up", redis: "up" });
    assert.equal((await rawRequest(url, { path: "/api/queue", headers: bearer(TOKENS.grafana) })).status, 200);
    const socket = await stack.connectSocket(url, { auth: { token: TOKENS.ci } });
    const follow = await socket.timeout(5000).emitWithAck("broadcast:follow", ["general"]);
    assert.ok(!("error" in follow), JSON.stringify(follow));
  });
});

/** A RabbitMQ user of the test's own with a random password, when this machine lets the test make one. */
function rabbitUser(): { name: string; password: string; remove(): void } | string {
  if (process.getuid?.() !== 0) return "not running as root";
  const name = `taskcast-test-${randomUUID().slice(0, 8)}`;
  const password = randomBytes(24).toString("hex");
  try {
    execFileSync("rabbitmqctl", ["add_user", name, password], { stdio: "ignore" });
    execFileSync("rabbitmqctl", ["set_permissions", "-p", "/", name, ".*", ".*", ".*"], { stdio: "ignore" });
  } catch (err) {
    return `rabbitmqctl could not add a user (${(err as Error).message.split("\n")[0]})`;
  }
  return { name, password, remove: () => execFileSync("rabbitmqctl", ["delete_user", name], { stdio: "ignore" }) };
}

describe("secrets stay secret", () => {
  let stack: Stack;
  let redis: PrivateRedis;
  before(async () => {
    stack = await startStack({ webNodes: 0, workers: 0 });
    redis = await PrivateRedis.start({ password: randomBytes(24).toString("hex") });
  });
  after(async () => {
    await redis.remove();
    await stack.close();
  });

  test("no password, token or session secret appears in a web node's logs, its API answers or /healthz, even while Redis is down", async (t) => {
    const rabbit = rabbitUser();
    if (typeof rabbit === "string") t.diagnostic(`RabbitMQ credentials not covered: ${rabbit}; the node uses the stack's RABBITMQ_URL.`);
    const sessionSecret = randomBytes(32).toString("hex");
    const token = randomBytes(32).toString("base64url");
    const redisPassword = new URL(redis.url).password;
    const rabbitUrl = typeof rabbit === "string" ? stack.env.RABBITMQ_URL : `amqp://${rabbit.name}:${rabbit.password}@127.0.0.1:5672`;
    const secrets: Record<string, string> = { redisPassword, sessionSecret, token, alicePassword: PASSWORDS.alice, ...(typeof rabbit === "string" ? {} : { rabbitPassword: rabbit.password }) };
    const node = await spawnWebNode(stack, {
      ...authEnv([`ops:operator:${token}`]),
      REDIS_URL: redis.url,
      RABBITMQ_URL: rabbitUrl,
      SESSION_SECRET: sessionSecret,
      LOG_LEVEL: "debug",
    });
    /** Each answer, and what its request itself sent in the path and body (which an error may echo back). */
    const seen: Array<{ sent: string; answer: string }> = [];
    const call = async (req: RawRequest) => {
      const res = await rawRequest(node.url, req);
      seen.push({ sent: `${req.path} ${typeof req.body === "string" ? req.body : JSON.stringify(req.body)}`, answer: `${res.status} ${JSON.stringify(res.headers)} ${res.text}` });
      return res;
    };
    try {
      assert.equal((await call({ path: "/healthz" })).status, 200);
      assert.equal((await call({ method: "POST", path: "/api/auth/login", body: { username: "alice", password: PASSWORDS.alice } })).status, 200);
      // A failed sign-in that also carries the real token, and one with a wrong password.
      assert.equal((await call({ method: "POST", path: "/api/auth/login", headers: { Authorization: `Bearer ${token}` }, body: { username: "alice", password: `${PASSWORDS.alice}x` } })).status, 401);
      assert.equal((await call({ method: "POST", path: "/api/auth/login", body: { username: PASSWORDS.alice, password: token } })).status, 401);
      assert.equal((await call({ path: "/api/tasks", headers: { Authorization: `Bearer ${token.slice(1)}x` } })).status, 401);
      assert.equal((await call({ method: "POST", path: "/api/tasks", headers: bearer(token), body: `{"type": "${token}"` })).status, 400);
      assert.equal((await call({ method: "POST", path: "/api/tasks", headers: bearer(token), body: { type: token } })).status, 400);
      assert.equal((await call({ path: `/api/tasks/${token}`, headers: bearer(token) })).status, 404);
      assert.equal((await call({ method: "POST", path: "/api/tasks", headers: bearer(token), body: { type: "echo" } })).status, 202);

      await redis.down();
      const degraded = await eventually(async () => {
        const res = await call({ path: "/healthz" });
        return res.status === 503 ? res : undefined;
      }, "/healthz to report Redis down");
      assert.equal(degraded.body.redis, "down");
      assert.equal((await call({ path: "/api/tasks", headers: bearer(token) })).status, 503);
      assert.equal((await call({ method: "POST", path: "/api/auth/login", body: { username: "alice", password: PASSWORDS.alice } })).status, 503);
      await eventually(async () => (/Redis connection error/.test(node.output()) ? true : undefined), "the node to log the Redis outage");
      await redis.up();
      await eventually(async () => ((await call({ path: "/healthz" })).status === 200 ? true : undefined), "the node to reconnect to Redis");
      assert.equal((await call({ path: "/api/tasks", headers: bearer(token) })).status, 200);
    } finally {
      node.process.kill("SIGTERM");
      await node.exited;
      if (typeof rabbit !== "string") rabbit.remove();
    }

    const output = node.output();
    assert.match(output, /Redis connection error/, "the outage was logged");
    assert.match(output, /127\.0\.0\.1/, "with where Redis is");
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!output.includes(secret), `the ${name} appears in the node's output`);
      // A validation error may quote the request's own body or path back to it; nothing else may carry a secret.
      for (const { sent, answer } of seen) assert.ok(!answer.includes(secret) || sent.includes(secret), `the ${name} appears in the answer to ${sent.slice(0, 80)}`);
    }
    assert.ok(seen.some(({ answer }) => answer.startsWith("503")), "errors were answered while Redis was down");
  });
});
