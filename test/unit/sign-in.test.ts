import assert from "node:assert/strict";
import { test } from "node:test";
import { safeNextPath } from "../../lib/sign-in";

test("after signing in the browser goes back to a page of this site, never to another one", () => {
  for (const path of ["/", "/tasks?status=dead", "/tasks/abc%2Fdef", "/audit?actor=alice#top"]) assert.equal(safeNextPath(path), path);
  for (const next of [undefined, null, "", "https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "tasks", "/\t/evil.example", "/\n/evil.example"]) {
    assert.equal(safeNextPath(next), "/", String(next));
  }
});
