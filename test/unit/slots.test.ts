import assert from "node:assert/strict";
import { test } from "node:test";
import { Slots } from "../../server/queue/slots";

test("a lease holds a free slot at once, at most one, and gives it back once", async () => {
  const slots = new Slots(1);
  const a = slots.lease();
  const b = slots.lease();
  assert.equal(a.tryHold?.(), true);
  assert.equal(a.tryHold?.(), true, "a lease holding its slot holds it still");
  assert.equal(slots.busy, 1);
  assert.equal(b.tryHold?.(), false, "no slot is free");
  const waiting = b.hold();
  assert.equal(slots.waitingCount, 1);
  a.release();
  a.release();
  assert.equal(await waiting, true, "the slot passes to the waiting lease");
  assert.equal(slots.busy, 1, "a second release of one lease frees nothing more");
  b.release();
  assert.equal(slots.busy, 0);
  assert.equal(b.tryHold?.(), true);
});

test("a waiting lease is let go without a slot when waiting is cancelled", async () => {
  const slots = new Slots(1);
  assert.equal(await slots.lease().hold(), true);
  const waiting = slots.lease().hold();
  assert.equal(slots.cancelWaiting(), 1);
  assert.equal(await waiting, false);
  assert.equal(slots.busy, 1);
});
