// One submission, two doors: the same cases over HTTP (POST /api/tasks) and Socket.IO (task:submit) give the
// same answers, queue the same tasks and write the same audit entries, against real RabbitMQ and Redis.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { AuditPage } from "../../lib/auth";
import { MAX_BODY_BYTES, type TaskRecord, type TaskSubmitAck } from "../../lib/contract";
import { authEnv, bearer, originOf, PASSWORDS, rawRequest, signIn, TOKENS } from "../helpers/auth";
import { eventually, startStack, type Stack, type TestSocket } from "../helpers/stack";

type Who = "operator-token" | "viewer-token" | "alice" | "bob";

/** What either door answers, in one shape: accepted with the task's id and status, or refused with a code. */
type Answer = { accepted: true; id: string; status: string; replayed: boolean } | { accepted: false; code: string; error: string };

interface Door {
  name: "http" | "socket";
  submit(who: Who, task: unknown, idempotencyKey?: string): Promise<Answer>;
}

/** The HTTP status each code answers with: the socket's `code` names the same refusal. */
const HTTP_STATUS: Record<string, number> = { invalid_input: 400, forbidden: 403, too_large: 413, idempotency_key_reused: 422 };

describe("HTTP and Socket.IO submission follow one contract", () => {
  let stack: Stack;
  let url: string;
  const cookies = {} as Record<"alice" | "bob", string>;
  const sockets = new Map<Who, TestSocket>();

  const credentials = (who: Who): Record<string, string> => {
    if (who === "operator-token") return bearer(TOKENS.ci);
    if (who === "viewer-token") return bearer(TOKENS.grafana);
    return { Cookie: cookies[who], Origin: originOf(url) };
  };

  const http: Door = {
    name: "http",
    async submit(who, task, idempotencyKey) {
      const headers = { ...credentials(who), ...(idempotencyKey === undefined ? {} : { "Idempotency-Key": idempotencyKey }) };
      const res = await rawRequest(url, { method: "POST", path: "/api/tasks", headers, body: JSON.stringify(task) });
      if (res.status === 200 || res.status === 202) {
        const replayed = res.headers["idempotent-replayed"] === "true";
        assert.equal(res.status, replayed ? 200 : 202, "a replay answers 200, a new task 202");
        return { accepted: true, id: res.body.id, status: res.body.status, replayed };
      }
      assert.equal(res.status, HTTP_STATUS[res.body.code], `${res.body.code} answers ${HTTP_STATUS[res.body.code]}`);
      return { accepted: false, code: res.body.code, error: res.body.error };
    },
  };

  const socket: Door = {
    name: "socket",
    async submit(who, task, idempotencyKey) {
      let connection = sockets.get(who);
      if (!connection) {
        connection = who === "alice" || who === "bob" ? await stack.connectSocket(url, { extraHeaders: credentials(who) }) : await stack.connectSocket(url, { auth: { token: who === "operator-token" ? TOKENS.ci : TOKENS.grafana } });
        sockets.set(who, connection);
      }
      const input = idempotencyKey === undefined || typeof task !== "object" || task === null ? task : { ...task, idempotencyKey };
      const ack = (await connection.timeout(5000).emitWithAck("task:submit", input as never)) as TaskSubmitAck;
      if ("error" in ack) return { accepted: false, code: ack.code ?? "(none)", error: ack.error };
      return { accepted: true, id: ack.id, status: ack.status, replayed: ack.replayed };
    },
  };

  before(async () => {
    stack = await startStack({ workers: 0, env: { ...authEnv(), API_RATE: "0" } });
    url = stack.nodes[0].url;
    cookies.alice = await signIn(url, "alice", PASSWORDS.alice);
    cookies.bob = await signIn(url, "bob", PASSWORDS.bob);
  });
  after(() => stack.close());

  const stored = async (id: string): Promise<TaskRecord | undefined> => {
    const res = await rawRequest(url, { path: `/api/tasks/${id}`, headers: bearer(TOKENS.grafana) });
    return res.status === 200 ? (res.body as TaskRecord) : undefined;
  };
  const auditOf = async (id: string) => ((await rawRequest(url, { path: "/api/audit?limit=200", headers: bearer(TOKENS.grafana) })).body as AuditPage).entries.filter((e) => e.target === id);

  const refusals: Array<{ name: string; who: Who; task: unknown; code: string; error: RegExp }> = [
    { name: "a task that is not an object", who: "operator-token", task: "echo", code: "invalid_input", error: /Invalid task/ },
    { name: "a task without a type", who: "operator-token", task: { payload: {} }, code: "invalid_input", error: /type/ },
    { name: "a task of an unknown type", who: "operator-token", task: { type: "teleport" }, code: "invalid_input", error: /Unknown task type "teleport"/ },
    { name: "a payload the type refuses", who: "operator-token", task: { type: "sleep", payload: { ms: "long" } }, code: "invalid_input", error: /ms/ },
    { name: "a priority out of range", who: "operator-token", task: { type: "echo", priority: 10 }, code: "invalid_input", error: /priority must be from 0 to 9/ },
    { name: "an extra field", who: "operator-token", task: { type: "echo", owner: "root" }, code: "invalid_input", error: /owner/ },
    { name: "a task over the size limit", who: "operator-token", task: { type: "echo", payload: { blob: "x".repeat(MAX_BODY_BYTES) } }, code: "too_large", error: new RegExp(`${MAX_BODY_BYTES}`) },
    { name: "a viewer's token", who: "viewer-token", task: { type: "echo" }, code: "forbidden", error: /grafana has the viewer role/ },
    { name: "a viewer signed in", who: "bob", task: { type: "echo" }, code: "forbidden", error: /bob has the viewer role/ },
  ];

  for (const door of [http, socket]) {
    describe(`over ${door.name}`, () => {
      for (const { name, who, task, code, error } of refusals) {
        test(`refuses ${name} with ${code}`, async () => {
          const answer = await door.submit(who, task);
          assert.equal(answer.accepted, false, JSON.stringify(answer));
          if (answer.accepted) return;
          assert.equal(answer.code, code, answer.error);
          assert.match(answer.error, error);
        });
      }

      test("accepts a task with its id and status queued, stores it and queues it", async () => {
        const marker = randomUUID();
        const answer = await door.submit("operator-token", { type: "echo", payload: { marker }, priority: 3 });
        assert.ok(answer.accepted, JSON.stringify(answer));
        if (!answer.accepted) return;
        assert.equal(answer.status, "queued");
        assert.equal(answer.replayed, false);
        const record = await stored(answer.id);
        assert.deepEqual({ type: record?.type, payload: record?.payload, priority: record?.priority, status: record?.status }, { type: "echo", payload: { marker }, priority: 3, status: "queued" });
      });

      test("a repeated Idempotency-Key answers the first task, replayed; the same key for another task is refused", async () => {
        const key = `contract-${door.name}-${randomUUID()}`;
        const first = await door.submit("operator-token", { type: "echo", payload: { n: 1 } }, key);
        const again = await door.submit("operator-token", { type: "echo", payload: { n: 1 } }, key);
        assert.ok(first.accepted && again.accepted, JSON.stringify([first, again]));
        if (!first.accepted || !again.accepted) return;
        assert.equal(again.id, first.id);
        assert.equal(again.replayed, true);
        const other = await door.submit("operator-token", { type: "echo", payload: { n: 2 } }, key);
        assert.ok(!other.accepted && other.code === "idempotency_key_reused", JSON.stringify(other));
        const tooLong = await door.submit("operator-token", { type: "echo" }, "k".repeat(201));
        assert.ok(!tooLong.accepted && tooLong.code === "invalid_input" && /Idempotency-Key must be 1 to 200 characters/.test(tooLong.error), JSON.stringify(tooLong));
      });

      test("a person's submission is audited with who, where from and which door; a service token's is not", async () => {
        const byAlice = await door.submit("alice", { type: "echo", priority: 7 });
        const byService = await door.submit("operator-token", { type: "echo" });
        assert.ok(byAlice.accepted && byService.accepted);
        if (!byAlice.accepted || !byService.accepted) return;
        const entries = await eventually(async () => {
          const found = await auditOf(byAlice.id);
          return found.length > 0 ? found : undefined;
        }, "alice's audit entry");
        assert.deepEqual(
          entries.map((e) => ({ action: e.action, actor: `${e.actor.kind}:${e.actor.name}`, via: e.via, detail: e.detail })),
          [{ action: "task.submit", actor: "user:alice", via: door.name, detail: "type echo, priority 7" }],
        );
        assert.match(entries[0].ip, /127\.0\.0\.1|::1/);
        assert.deepEqual(await auditOf(byService.id), []);
      });
    });
  }

  test("both doors refuse exactly the same cases with the same codes", async () => {
    const codes = async (door: Door) => Promise.all(refusals.map(async (r) => {
      const answer = await door.submit(r.who, r.task);
      return answer.accepted ? "accepted" : answer.code;
    }));
    assert.deepEqual(await codes(socket), await codes(http));
  });
});
