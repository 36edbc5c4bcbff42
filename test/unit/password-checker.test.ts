import assert from "node:assert/strict";
import { test } from "node:test";
import { hashSync } from "bcryptjs";
import { PasswordChecker } from "../../server/auth/password-checker";

const HASH = hashSync("right password", 10);

test("the password checker answers on its threads, holds at most maxConcurrent checks, and closes once", async () => {
  const checker = new PasswordChecker(2, 1);
  try {
    assert.equal(await checker.compare("right password", HASH), true);
    assert.equal(await checker.compare("wrong password", HASH), false);
    const first = checker.compare("wrong 1", HASH);
    const second = checker.compare("right password", HASH);
    assert.ok(checker.full, "two under way, one thread: the second waits, and both count");
    await assert.rejects(checker.compare("third", HASH), /2 password checks are already under way/);
    assert.deepEqual(await Promise.all([first, second]), [false, true]);
    assert.ok(!checker.full, "room again once they are done");
  } finally {
    await Promise.all([checker.close(), checker.close()]);
  }
  await assert.rejects(checker.compare("right password", HASH), /closed/);
});
