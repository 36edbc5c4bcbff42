// Users (bcrypt password hashes) and service tokens as configured, and the checks against them.
import { compare, genSaltSync, getRounds } from "bcryptjs";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Principal, Role } from "../../lib/auth";
import { RoleSchema } from "../../lib/auth";

export interface UserEntry {
  name: string;
  role: Role;
  passwordHash: string;
}

export interface TokenEntry {
  name: string;
  role: Role;
  /** SHA-256 of the token: the token itself is not kept in memory past parsing. */
  digest: Buffer;
}

/** Below this bcrypt cost a stolen hash is too cheap to guess at; `npm run auth` makes cost 12. */
export const MIN_BCRYPT_COST = 10;

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const TOKEN = /^[A-Za-z0-9._~+/=-]{32,256}$/;

/** Entries are `name:role:secret`, one per line or separated by commas; `#` starts a comment line. */
function entries(text: string, what: string): Array<{ name: string; role: Role; secret: string; n: number }> {
  const items = text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  return items.map((item, i) => {
    const [name, role, ...rest] = item.split(":");
    const secret = rest.join(":");
    const n = i + 1;
    if (!name || !NAME.test(name)) throw new Error(`${what} entry ${n}: the name must be 1-64 letters, digits or . _ @ - (entries are name:role:secret)`);
    const parsedRole = RoleSchema.safeParse(role);
    if (!parsedRole.success) throw new Error(`${what} entry ${n} (${name}): the role must be viewer or operator`);
    return { name, role: parsedRole.data, secret, n };
  });
}

/** Parses `name:role:bcrypt-hash` entries; throws a message that says how to make a hash. */
export function parseUsers(text: string, what = "TASKCAST_USERS"): UserEntry[] {
  const users = entries(text, what).map(({ name, role, secret, n }) => {
    if (!BCRYPT_HASH.test(secret)) throw new Error(`${what} entry ${n} (${name}): the password hash must be a bcrypt hash ($2b$…); make one with \`npm run auth -- hash-password\``);
    const cost = getRounds(secret);
    if (cost < MIN_BCRYPT_COST) throw new Error(`${what} entry ${n} (${name}): the password hash has bcrypt cost ${cost}; use at least ${MIN_BCRYPT_COST} (make a new one with \`npm run auth -- hash-password\`, cost 12)`);
    return { name, role, passwordHash: secret };
  });
  assertUnique(users, what);
  return users;
}

/** Parses `name:role:token` entries; tokens are at least 32 characters (make one with `npm run auth -- new-token`). */
export function parseTokens(text: string, what = "TASKCAST_TOKENS"): TokenEntry[] {
  const tokens = entries(text, what).map(({ name, role, secret, n }) => {
    if (!TOKEN.test(secret)) throw new Error(`${what} entry ${n} (${name}): the token must be 32-256 URL-safe characters; make one with \`npm run auth -- new-token\``);
    return { name, role, digest: sha256(secret) };
  });
  assertUnique(tokens, what);
  return tokens;
}

function assertUnique(list: Array<{ name: string }>, what: string): void {
  const seen = new Set<string>();
  for (const { name } of list) {
    if (seen.has(name)) throw new Error(`${what}: the name ${name} appears twice`);
    seen.add(name);
  }
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest();

export class Credentials {
  private readonly users: Map<string, UserEntry>;
  /**
   * Compared against when the username is unknown: a hash of the highest configured cost that matches no password,
   * so a wrong name takes as long as a wrong password for the costliest user.
   */
  private readonly dummyHash: string | undefined;

  /** `verify` checks a password against a hash: bcryptjs on this thread by default, a PasswordChecker in a web node. */
  constructor(
    users: readonly UserEntry[],
    private readonly tokens: readonly TokenEntry[],
    private readonly verify: (password: string, hash: string) => Promise<boolean> = compare,
  ) {
    this.users = new Map(users.map((u) => [u.name, u]));
    const costs = users.map((u) => getRounds(u.passwordHash));
    // A salt of that cost and a digest of 31 dots: checking it costs as much as any hash of that cost, and no password yields it.
    this.dummyHash = costs.length > 0 ? `${genSaltSync(Math.max(...costs))}${".".repeat(31)}` : undefined;
  }

  /** Users configured: pages, API and sockets then need a session or a token. */
  get authRequired(): boolean {
    return this.users.size > 0;
  }

  /** The user for a name and password, or null; as slow for an unknown name as for a wrong password. */
  async checkPassword(name: string, password: string): Promise<Principal | null> {
    const user = this.users.get(name);
    // An unknown name is checked against the dummy hash, of the highest cost, and always fails.
    const hash = user?.passwordHash ?? this.dummyHash;
    if (!hash) return null;
    const ok = await this.verify(password, hash);
    return ok && user ? { kind: "user", name: user.name, role: user.role } : null;
  }

  /** The user by name as currently configured (a removed user's session stops working), or null. */
  user(name: string): Principal | null {
    const user = this.users.get(name);
    return user ? { kind: "user", name: user.name, role: user.role } : null;
  }

  /** The token's principal, or null. Compares digests in constant time and always checks every token. */
  checkToken(token: string): Principal | null {
    const digest = sha256(token);
    let found: TokenEntry | null = null;
    for (const entry of this.tokens) if (timingSafeEqual(entry.digest, digest) && !found) found = entry;
    return found ? { kind: "token", name: found.name, role: found.role } : null;
  }
}
