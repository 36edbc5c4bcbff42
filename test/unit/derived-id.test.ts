// Ids derived from seeds (a batch's tasks, a schedule's ticks): a replayed Idempotency-Key and every web node must
// derive the same id from the same seed, so the derivation never changes. These were derived by the first version.
import assert from "node:assert/strict";
import { test } from "node:test";
import { derivedId } from "../../server/lifecycle/submission";

test("a seed always derives the same UUID (version 8, RFC 9562 variant)", () => {
  const known: Array<[string, string]> = [
    ["", "e3b0c442-98fc-8c14-9afb-f4c8996fb924"],
    ["a", "ca978112-ca1b-8dca-bac2-31b39a23dc4d"],
    ["batch-1:0", "5ee62b3c-3f9c-861e-9222-c392aaff32bb"],
    ["x".repeat(300), "0d4e2ca9-e9cb-8ed7-a7a5-380eb29e1a37"],
    ["ключ:17", "c6e2a891-3205-81e1-9800-3d2156182f61"],
  ];
  for (const [seed, id] of known) assert.equal(derivedId(seed), id, `seed ${JSON.stringify(seed.slice(0, 20))}`);
  for (let i = 0; i < 200; i++) assert.match(derivedId(`seed:${i}`), /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
