import assert from "node:assert/strict";
import { test } from "node:test";
import { BroadcastSubscriptionSchema } from "../../lib/contract";
import { currentSubscription, noteBroadcastId, setFollowedChannels } from "../../components/live/socket-client";

test("the handshake states the followed channels and the highest broadcast id seen, which never moves back", () => {
  assert.deepEqual(currentSubscription(), { channels: null, lastBroadcastId: null });
  noteBroadcastId("9");
  noteBroadcastId("10");
  noteBroadcastId("2");
  noteBroadcastId(null);
  setFollowedChannels(["ops"]);
  const auth = currentSubscription();
  assert.deepEqual(auth, { channels: ["ops"], lastBroadcastId: "10" });
  assert.equal(BroadcastSubscriptionSchema.safeParse(auth).success, true);
  setFollowedChannels(null);
  assert.equal(currentSubscription().channels, null);
});
