// `npm run auth -- hash-password [name] [role]` and `npm run auth -- new-token [name] [role]`:
// print a TASKCAST_USERS or TASKCAST_TOKENS entry. The password is read from stdin, never from the command line.
import { hash, truncates } from "bcryptjs";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { PASSWORD_MAX_BYTES, RoleSchema } from "../lib/auth";

const BCRYPT_COST = 12;
const [command, name = "admin", role = "operator"] = process.argv.slice(2);

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) fail(`The name must be 1-64 letters, digits or . _ @ -; got "${name}".`);
if (!RoleSchema.safeParse(role).success) fail(`The role must be viewer or operator; got "${role}".`);

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin, terminal: false });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    return "";
  }
  // At a terminal: read keys raw so the password is not echoed.
  process.stderr.write(`Password for ${name} (not shown): `);
  process.stdin.setRawMode(true);
  let password = "";
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    for (const ch of chunk.toString("utf8")) {
      if (ch === "\r" || ch === "\n") {
        process.stdin.setRawMode(false);
        process.stdin.pause();
        process.stderr.write("\n");
        return password;
      }
      if (ch === "\u0003") fail("\nCancelled.");
      password = ch === "\u007f" ? password.slice(0, -1) : password + ch;
    }
  }
  return password;
}

if (command === "hash-password") {
  const password = await readPassword();
  if (password.length < 8) fail("Use a password of at least 8 characters.");
  // bcrypt would silently ignore the rest, and sign-in refuses longer passwords.
  if (truncates(password)) fail(`Use a password of at most ${PASSWORD_MAX_BYTES} bytes (UTF-8); bcrypt ignores anything longer.`);
  process.stdout.write(`${name}:${role}:${await hash(password, BCRYPT_COST)}\n`);
} else if (command === "new-token") {
  process.stdout.write(`${name}:${role}:${randomBytes(32).toString("base64url")}\n`);
} else {
  fail("Usage: npm run auth -- hash-password [name] [role]   (reads the password from stdin)\n       npm run auth -- new-token [name] [role]");
}
