// safeJson answers what JSON.parse does for JSON text, and undefined for anything else, including the plain text
// outside services publish (answered without trying the parse).
import assert from "node:assert/strict";
import { test } from "node:test";
import { safeJson } from "../../lib/safe-json";

test("JSON text of every kind parses as JSON.parse parses it", () => {
  for (const text of ['{"a":1}', " \n\t{\"a\": [1, 2]}", "[1,2]", '"text"', "-1.5", "0", "42", "true", "false", "null", '\r\n "x"']) {
    assert.deepEqual(safeJson(text), JSON.parse(text), text);
  }
});

test("anything that is not JSON is undefined, whether or not it starts like JSON", () => {
  for (const text of ["", "   ", "hello", "bench:x:1:1700000000000", "{not json", "[1,", "tru", "nope", "-", "\u00a0{}", "\ufeff{}", "'a'", "undefined", "NaN"]) {
    assert.equal(safeJson(text), undefined, JSON.stringify(text));
  }
});
