import assert from "node:assert/strict";
import { test } from "node:test";
import { hashSync } from "bcryptjs";
import { Authenticator } from "../../server/auth/authenticator";
import { Credentials, parseTokens, parseUsers } from "../../server/auth/credentials";
import type { SessionStore } from "../../server/auth/sessions";
import { AppError } from "../../server/errors";
import { LoginRequestSchema } from "../../lib/auth";

// Cost 10: the lowest a web node accepts, so the tests stay fast; the checks are the same at any cost.
const ALICE_HASH = hashSync("alice-password", 10);
const BOB_HASH = hashSync("bob-password", 10);
const CI_TOKEN = "ci-token-0123456789abcdefghijklmnopqrstuv";
const GRAFANA_TOKEN = "grafana-token-0123456789abcdefghijklmnopq";

test("users are read from name:role:hash entries separated by commas or newlines, with comments", () => {
  const users = parseUsers(`# dashboard users\nalice:operator:${ALICE_HASH}\n\n  bob:viewer:${BOB_HASH} , carol.x@example:viewer:${BOB_HASH}\n# end`);
  assert.deepEqual(
    users.map((u) => [u.name, u.role, u.passwordHash]),
    [
      ["alice", "operator", ALICE_HASH],
      ["bob", "viewer", BOB_HASH],
      ["carol.x@example", "viewer", BOB_HASH],
    ],
  );
  assert.deepEqual(parseUsers(""), []);
  assert.deepEqual(parseUsers("# only a comment\n\n"), []);
});

test("a user entry with a bad name, role or hash is refused with a message that says what to do", () => {
  assert.throws(() => parseUsers(`alice:admin:${ALICE_HASH}`), /entry 1 \(alice\): the role must be viewer or operator/);
  assert.throws(() => parseUsers(`alice:operator:${ALICE_HASH}\nbob:viewer`), /entry 2 \(bob\): the password hash must be a bcrypt hash.*hash-password/);
  assert.throws(() => parseUsers("alice:operator:plaintext-password"), /bcrypt hash/);
  assert.throws(() => parseUsers(`alice:operator:${ALICE_HASH.slice(0, -1)}`), /bcrypt hash/, "a truncated hash");
  assert.throws(() => parseUsers(`al ice:operator:${ALICE_HASH}`), /the name must be 1-64 letters/);
  assert.throws(() => parseUsers(`:operator:${ALICE_HASH}`), /the name must be/);
  assert.throws(() => parseUsers("alice:operator:nope", "TASKCAST_USERS_FILE"), /TASKCAST_USERS_FILE entry 1 \(alice\)/);
});

test("a stored hash below bcrypt cost 10 is refused, naming the user", () => {
  const weak = hashSync("carol-password", 9);
  assert.throws(() => parseUsers(`alice:operator:${ALICE_HASH}\ncarol:viewer:${weak}`), /entry 2 \(carol\): the password hash has bcrypt cost 9; use at least 10/);
  assert.equal(parseUsers(`carol:viewer:${hashSync("carol-password", 11)}`).length, 1);
});

test("a sign-in password may be at most 72 bytes of UTF-8, which bcrypt checks whole", () => {
  const ok = (password: string) => LoginRequestSchema.safeParse({ username: "alice", password }).success;
  assert.ok(ok("p".repeat(72)));
  assert.ok(!ok("p".repeat(73)));
  assert.ok(ok("é".repeat(36)), "72 bytes");
  assert.ok(!ok("é".repeat(37)), "74 bytes in 37 characters");
});

test("a user or token name that appears twice is refused", () => {
  assert.throws(() => parseUsers(`alice:operator:${ALICE_HASH},alice:viewer:${BOB_HASH}`), /the name alice appears twice/);
  assert.throws(() => parseTokens(`ci:operator:${CI_TOKEN}\nci:viewer:${GRAFANA_TOKEN}`), /TASKCAST_TOKENS: the name ci appears twice/);
});

test("tokens are read from name:role:token entries and must be at least 32 URL-safe characters", () => {
  const tokens = parseTokens(`ci:operator:${CI_TOKEN}\n# a comment\ngrafana:viewer:${GRAFANA_TOKEN}`);
  assert.deepEqual(
    tokens.map((t) => [t.name, t.role]),
    [
      ["ci", "operator"],
      ["grafana", "viewer"],
    ],
  );
  // Only a digest is kept, never the token itself.
  assert.ok(tokens.every((t) => t.digest.length === 32 && !t.digest.toString("utf8").includes("token")));
  assert.throws(() => parseTokens("ci:operator:too-short-0123456789"), /entry 1 \(ci\): the token must be 32-256 URL-safe characters.*new-token/);
  assert.throws(() => parseTokens(`ci:operator:${CI_TOKEN.slice(0, 20)} ${CI_TOKEN}`), /URL-safe/);
  assert.throws(() => parseTokens(`ci:root:${CI_TOKEN}`), /the role must be viewer or operator/);
  // A token may contain ':' (everything after the role is the secret) but not below 32 characters.
  assert.throws(() => parseTokens("ci:operator:"), /the token must be/);
});

test("checkPassword accepts the right password and refuses a wrong one or an unknown user", async () => {
  const credentials = new Credentials(parseUsers(`alice:operator:${ALICE_HASH},bob:viewer:${BOB_HASH}`), []);
  assert.ok(credentials.authRequired);
  assert.deepEqual(await credentials.checkPassword("alice", "alice-password"), { kind: "user", name: "alice", role: "operator" });
  assert.deepEqual(await credentials.checkPassword("bob", "bob-password"), { kind: "user", name: "bob", role: "viewer" });
  assert.equal(await credentials.checkPassword("alice", "bob-password"), null);
  assert.equal(await credentials.checkPassword("alice", ""), null);
  assert.equal(await credentials.checkPassword("mallory", "alice-password"), null);
  assert.equal(credentials.user("bob")?.role, "viewer");
  assert.equal(credentials.user("mallory"), null);
  assert.equal(new Credentials([], []).authRequired, false);
});

test("checkToken finds the token's principal and refuses a wrong token of any length", () => {
  const credentials = new Credentials([], parseTokens(`ci:operator:${CI_TOKEN},grafana:viewer:${GRAFANA_TOKEN}`));
  assert.deepEqual(credentials.checkToken(CI_TOKEN), { kind: "token", name: "ci", role: "operator" });
  assert.deepEqual(credentials.checkToken(GRAFANA_TOKEN), { kind: "token", name: "grafana", role: "viewer" });
  // Digests are compared, so lengths never differ and timingSafeEqual never throws.
  for (const wrong of ["", "x", CI_TOKEN.slice(0, -1), `${CI_TOKEN}x`, CI_TOKEN.toUpperCase(), "é".repeat(500)]) assert.equal(credentials.checkToken(wrong), null, wrong);
  assert.equal(new Credentials([], []).checkToken(CI_TOKEN), null);
});

/** Sessions are not reached by these cases (no cookie), so a stand-in that fails loudly is enough. */
const noSessions = new Proxy({}, { get: () => () => assert.fail("sessions were not expected to be used") }) as unknown as SessionStore;

test("the authenticator takes a Bearer token or a handshake token, and a presented wrong token is a 401", async () => {
  const credentials = new Credentials(parseUsers(`alice:operator:${ALICE_HASH}`), parseTokens(`ci:operator:${CI_TOKEN}`));
  const auth = new Authenticator(credentials, noSessions, 0);
  assert.deepEqual(await auth.identify({ authorization: `Bearer ${CI_TOKEN}` }), { principal: { kind: "token", name: "ci", role: "operator" }, session: null, via: "token" });
  assert.equal((await auth.identify({ authorization: `bearer  ${CI_TOKEN}` })).principal?.name, "ci", "the scheme is case-insensitive");
  assert.equal((await auth.identify({}, CI_TOKEN)).principal?.name, "ci");
  assert.deepEqual(await auth.identify({}), { principal: null, session: null, via: "none" });
  const is401 = (message: RegExp) => (err: unknown) => err instanceof AppError && err.status === 401 && message.test(err.message);
  await assert.rejects(auth.identify({ authorization: "Bearer wrong-token" }), is401(/not valid/));
  await assert.rejects(auth.identify({ authorization: `Basic ${Buffer.from("alice:x").toString("base64")}` }), is401(/must be `Bearer <token>`/));
  await assert.rejects(auth.identify({}, 42), is401(/auth.token must be a string/));
  await assert.rejects(auth.identify({}, "wrong-token"), is401(/not valid/));
});

test("without users everyone is the local operator, except a client presenting a wrong token", async () => {
  const auth = new Authenticator(new Credentials([], parseTokens(`ci:viewer:${CI_TOKEN}`)), noSessions, 0);
  assert.deepEqual((await auth.identify({ cookie: "taskcast_session=forged.sig" })).principal, { kind: "local", name: "local", role: "operator" });
  assert.equal((await auth.identify({ authorization: `Bearer ${CI_TOKEN}` })).principal?.role, "viewer", "a token still has its own role");
  await assert.rejects(auth.identify({ authorization: "Bearer wrong" }), (err: unknown) => err instanceof AppError && err.status === 401);
});

test("the client address is the socket's unless TRUST_PROXY trusts proxies; then the entry the outermost one appended", () => {
  const credentials = new Credentials([], []);
  const direct = new Authenticator(credentials, noSessions, 0);
  const proxied = new Authenticator(credentials, noSessions, 1);
  const twoHops = new Authenticator(credentials, noSessions, 2);
  // The client sent "203.0.113.9" itself; the proxy appended the address it saw, 198.51.100.7.
  const headers = { "x-forwarded-for": "203.0.113.9, 198.51.100.7", "x-forwarded-proto": "https" };
  assert.equal(direct.clientIp(headers, "::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(proxied.clientIp(headers, "::ffff:127.0.0.1"), "198.51.100.7", "the right-most entry, never what the client chose");
  assert.equal(twoHops.clientIp({ "x-forwarded-for": "203.0.113.9, 198.51.100.7, 10.0.0.2" }, "10.0.0.3"), "198.51.100.7");
  assert.equal(twoHops.clientIp({ "x-forwarded-for": "198.51.100.7" }, "10.0.0.3"), "198.51.100.7", "fewer entries than hops: the left-most");
  assert.equal(proxied.clientIp({ "x-forwarded-for": ["203.0.113.9", "198.51.100.7"] }, "10.0.0.1"), "198.51.100.7", "repeated headers count as one list");
  assert.equal(proxied.clientIp({ "x-forwarded-for": "2001:db8::1" }, "10.0.0.1"), "2001:db8::1");
  assert.equal(proxied.clientIp({ "x-forwarded-for": "not an address" }, "10.0.0.1"), "10.0.0.1", "an entry that is no address is not taken");
  // Entries some load balancers write: with a port, or IPv6 in brackets.
  assert.equal(proxied.clientIp({ "x-forwarded-for": "203.0.113.9, 198.51.100.7:51234" }, "10.0.0.1"), "198.51.100.7");
  assert.equal(proxied.clientIp({ "x-forwarded-for": "[2001:db8::5]" }, "10.0.0.1"), "2001:db8::5");
  assert.equal(proxied.clientIp({ "x-forwarded-for": "[2001:db8::5]:443" }, "10.0.0.1"), "2001:db8::5");
  assert.equal(proxied.clientIp({}, "10.0.0.1"), "10.0.0.1");
  assert.equal(direct.isHttps(headers, false), false, "X-Forwarded-Proto is ignored without TRUST_PROXY");
  assert.equal(proxied.isHttps(headers, false), true);
  assert.equal(direct.isHttps({}, true), true);
});
