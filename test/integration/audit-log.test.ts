// The audit log against real Redis, RabbitMQ and two web nodes: who did what, from where and how, newest first,
// filtered and paged, pushed live to every node's tabs, and bounded in Redis.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { AuditEntry, AuditPage } from "../../lib/auth";
import type { SubmitAck, TaskRecord } from "../../lib/contract";
import { authEnv, bearer, originOf, PASSWORDS, rawRequest, signIn, TOKENS } from "../helpers/auth";
import { eventually, startStack, type Stack } from "../helpers/stack";

const viewer = bearer(TOKENS.grafana);
const operator = bearer(TOKENS.ci);

async function auditPage(stack: Stack, query = ""): Promise<AuditPage> {
  const res = await rawRequest(stack.nodes[0].url, { path: `/api/audit${query}`, headers: viewer });
  assert.equal(res.status, 200, res.text);
  return res.body as AuditPage;
}

function waitForStatus(stack: Stack, id: string, status: string, timeoutMs = 15_000): Promise<TaskRecord> {
  return eventually(
    async () => {
      const res = await rawRequest(stack.nodes[0].url, { path: `/api/tasks/${id}`, headers: viewer });
      return res.body.status === status ? (res.body as TaskRecord) : undefined;
    },
    `task ${id} to be ${status}`,
    timeoutMs,
  );
}

describe("audit log", () => {
  let stack: Stack;
  let url: string;
  before(async () => {
    stack = await startStack({ webNodes: 2, workers: 1, env: { ...authEnv(), API_RATE: "0" } });
    url = stack.nodes[0].url;
  });
  after(() => stack.close());

  const post = (path: string, body: unknown, headers: Record<string, string>) => rawRequest(url, { method: "POST", path, body, headers });
  const submitted = async (body: object) => {
    const res = await post("/api/tasks", body, operator);
    assert.equal(res.status, 202, res.text);
    return res.body.id as string;
  };

  test("every operator action and sign-in is recorded with who, what, target, address and channel, newest first, and pushed to another node's tabs", async () => {
    const live: AuditEntry[] = [];
    const watcher = await stack.connectSocket(stack.nodes[1], { auth: { token: TOKENS.grafana } });
    watcher.on("audit:entry", (e) => live.push(e));

    const marker = randomUUID();
    const running = await submitted({ type: "sleep", payload: { ms: 60_000 } });
    const failed = await submitted({ type: "fail" });
    const dead = await submitted({ type: "flaky", payload: { failures: 10 } });
    await Promise.all([waitForStatus(stack, running, "running"), waitForStatus(stack, failed, "failed"), waitForStatus(stack, dead, "dead", 20_000)]);

    assert.equal((await post("/api/auth/login", { username: "alice", password: `${PASSWORDS.alice}-wrong` }, {})).status, 401);
    // A password typed into the username field must not be written down (nor pushed to every tab).
    const typo = `typed-in-the-wrong-field-${marker}`;
    assert.equal((await post("/api/auth/login", { username: typo, password: "x" }, {})).status, 401);
    const cookie = await signIn(url, "alice", PASSWORDS.alice);
    const broadcast = await post("/api/broadcasts", { message: `api ${marker}`, channel: "ops" }, operator);
    assert.equal(broadcast.status, 202);
    assert.equal((await post(`/api/tasks/${running}/cancel`, {}, operator)).status, 202);
    assert.equal((await post(`/api/tasks/${failed}/retry`, { payload: { message: "again" } }, operator)).status, 202);
    assert.equal((await post(`/api/tasks/${dead}/discard`, {}, operator)).status, 200);
    const socket = await stack.connectSocket(url, { extraHeaders: { Cookie: cookie, Origin: originOf(url) } });
    const task = (await socket.timeout(5000).emitWithAck("task:submit", { type: "echo", priority: 7 })) as SubmitAck;
    const sent = (await socket.timeout(5000).emitWithAck("broadcast:send", { message: `socket ${marker}` })) as SubmitAck;
    assert.ok("id" in task && "id" in sent);
    assert.equal((await post("/api/auth/logout", {}, { Cookie: cookie, Origin: originOf(url) })).status, 200);

    const expected: Array<Pick<AuditEntry, "action" | "target" | "via"> & { actor: string; detail?: RegExp }> = [
      { action: "auth.login_failed", actor: "anonymous:alice:null", target: "alice", via: "http", detail: /^wrong password$/ },
      { action: "auth.login_failed", actor: "anonymous:(unknown user):null", target: null, via: "http", detail: /^no such user$/ },
      { action: "auth.login", actor: "user:alice:operator", target: "alice", via: "http" },
      { action: "broadcast.send", actor: "token:ci:operator", target: broadcast.body.id, via: "http", detail: new RegExp(`^#ops: api ${marker}$`) },
      { action: "task.cancel", actor: "token:ci:operator", target: running, via: "http", detail: /^type sleep$/ },
      { action: "task.retry", actor: "token:ci:operator", target: failed, via: "http", detail: /^type fail, payload edited$/ },
      { action: "task.discard", actor: "token:ci:operator", target: dead, via: "http", detail: /^type flaky$/ },
      { action: "task.submit", actor: "user:alice:operator", target: task.id, via: "socket", detail: /^type echo, priority 7$/ },
      { action: "broadcast.send", actor: "user:alice:operator", target: sent.id, via: "socket", detail: new RegExp(`^#general: socket ${marker}$`) },
      { action: "auth.logout", actor: "user:alice:operator", target: "alice", via: "http" },
    ];
    // Entries are written just after the answer; wait for the last one.
    const page = await eventually(async () => {
      const p = await auditPage(stack, "?limit=500");
      return p.entries.length >= expected.length ? p : undefined;
    }, "all the audit entries");
    // Token submissions are the queue's ordinary traffic and are not audited, so these are all there is.
    assert.equal(page.entries.length, expected.length, JSON.stringify(page.entries.map((e) => e.action)));
    assert.equal(page.nextBefore, null);
    assert.ok(!JSON.stringify(page.entries).includes(typo), "an unknown username is not recorded");
    const newestFirst = [...expected].reverse();
    page.entries.forEach((entry, i) => {
      const want = newestFirst[i];
      assert.equal(entry.action, want.action, `entry ${i}`);
      assert.equal(`${entry.actor.kind}:${entry.actor.name}:${entry.actor.role}`, want.actor, `actor of ${want.action}`);
      assert.equal(entry.target, want.target, `target of ${want.action}`);
      assert.equal(entry.via, want.via, `via of ${want.action}`);
      assert.equal(entry.ip, "127.0.0.1");
      assert.ok(!Number.isNaN(Date.parse(entry.at)));
      if (want.detail) assert.match(entry.detail ?? "", want.detail);
      if (i > 0) assert.ok(Date.parse(entry.at) <= Date.parse(page.entries[i - 1].at));
    });
    // Never the password, right or wrong.
    assert.doesNotMatch(JSON.stringify(page), new RegExp(PASSWORDS.alice));

    await eventually(async () => (live.length >= expected.length ? true : undefined), "the entries to reach the other node's tab");
    assert.deepEqual(
      live.map((e) => e.id),
      [...page.entries].reverse().map((e) => e.id),
      "every entry, in order, as it was written",
    );
  });

  test("the list filters by action and actor and pages with before", async () => {
    const all = (await auditPage(stack, "?limit=500")).entries;
    assert.ok(all.length >= 9);
    const sends = (await auditPage(stack, "?action=broadcast.send")).entries;
    assert.deepEqual(
      sends.map((e) => e.id),
      all.filter((e) => e.action === "broadcast.send").map((e) => e.id),
    );
    assert.equal(sends.length, 2);
    const byCi = (await auditPage(stack, "?actor=ci")).entries;
    assert.deepEqual(byCi.map((e) => e.action), ["task.discard", "task.retry", "task.cancel", "broadcast.send"]);
    assert.deepEqual((await auditPage(stack, "?actor=ci&action=task.retry")).entries.map((e) => e.action), ["task.retry"]);
    assert.deepEqual((await auditPage(stack, "?actor=nobody")).entries, []);

    const paged: AuditEntry[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const page: AuditPage = await auditPage(stack, `?limit=2${cursor ? `&before=${cursor}` : ""}`);
      assert.ok(page.entries.length <= 2);
      paged.push(...page.entries);
      cursor = page.nextBefore;
      if (!cursor) break;
      assert.equal(cursor, page.entries.at(-1)!.id);
    }
    assert.equal(cursor, null, "paging reached the end");
    assert.deepEqual(
      paged.map((e) => e.id),
      all.map((e) => e.id),
      "pages of two add up to the whole log, without repeats or gaps",
    );
    const filteredPage = await auditPage(stack, "?actor=ci&limit=1");
    assert.equal(filteredPage.entries[0].action, "task.discard");
    assert.deepEqual((await auditPage(stack, `?actor=ci&limit=1&before=${filteredPage.nextBefore}`)).entries.map((e) => e.action), ["task.retry"]);
  });

  test("viewers may read the log; without credentials it is 401", async () => {
    assert.equal((await rawRequest(url, { path: "/api/audit", headers: viewer })).status, 200);
    const bob = await signIn(url, "bob", PASSWORDS.bob);
    assert.equal((await rawRequest(stack.nodes[1].url, { path: "/api/audit", headers: { Cookie: bob } })).status, 200);
    assert.equal((await rawRequest(url, { path: "/api/audit" })).status, 401);
    assert.equal((await rawRequest(url, { method: "POST", path: "/api/audit", body: {}, headers: operator })).status, 405);
  });
});

describe("audit log retention", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ workers: 0, env: { ...authEnv(), API_RATE: "0", AUDIT_LOG_LIMIT: "20" } });
  });
  after(() => stack.close());

  test("the stream stays near AUDIT_LOG_LIMIT however many actions there are, and keeps the newest", async () => {
    const url = stack.nodes[0].url;
    const total = 300;
    for (let i = 0; i < total; i += 25) {
      const batch = Array.from({ length: Math.min(25, total - i) }, (_, j) => rawRequest(url, { method: "POST", path: "/api/broadcasts", body: { message: `n${i + j}` }, headers: operator }));
      for (const res of await Promise.all(batch)) assert.equal(res.status, 202);
    }
    // Entries are written in the order of the actions on one Redis connection: once the last is there, all are.
    assert.equal((await rawRequest(url, { method: "POST", path: "/api/broadcasts", body: { message: "final" }, headers: operator })).status, 202);
    await eventually(async () => ((await auditPage(stack, "?limit=1")).entries[0]?.detail === "#general: final" ? true : undefined), "the last audit entry");
    const key = `${stack.config.KEY_PREFIX}:audit`;
    // MAXLEN ~ trims whole stream nodes only, so up to one node's worth of entries may be kept over the limit.
    const nodeEntries = Number(((await stack.redis.config("GET", "stream-node-max-entries")) as string[])[1]);
    const length = await stack.redis.xlen(key);
    assert.ok(length >= 20 && length <= 20 + nodeEntries && length < total, `XLEN ${length}, expected 20 to ${20 + nodeEntries}`);
    const listed = (await auditPage(stack, "?limit=500")).entries;
    assert.equal(listed.length, length);
    assert.ok(listed.every((e) => e.action === "broadcast.send"));
    assert.ok(!listed.some((e) => e.detail === "#general: n0"), "the oldest went first");
  });
});
