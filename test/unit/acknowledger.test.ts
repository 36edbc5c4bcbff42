// How a consumer's acks reach RabbitMQ: consecutive ones folded into one `multiple` ack, never settling a
// delivery that is still running or was requeued.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Channel, Message } from "amqplib";
import { Acknowledger } from "../../server/queue/acknowledger";

/** A channel that records the frames it would send: "ack 3", "ack ≤5" (multiple), "nack 4". */
function recordingChannel(failing = false) {
  const frames: string[] = [];
  const channel = {
    ack(message: Message, allUpTo = false) {
      if (failing) throw new Error("Channel closed");
      frames.push(`ack ${allUpTo ? "≤" : ""}${message.fields.deliveryTag}`);
    },
    nack(message: Message, allUpTo = false, requeue = true) {
      frames.push(`nack ${allUpTo ? "≤" : ""}${message.fields.deliveryTag}${requeue ? "" : " drop"}`);
    },
  };
  return { frames, channel: channel as unknown as Channel };
}

const delivery = (tag: number) => ({ fields: { deliveryTag: tag } }) as Message;
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

test("acks of the oldest deliveries in one turn go as one multiple ack; a running delivery below keeps the rest single", async () => {
  const { frames, channel } = recordingChannel();
  const acks = new Acknowledger(channel, () => assert.fail("no error expected"));
  const messages = [1, 2, 3, 4, 5, 6].map(delivery);
  for (const m of messages) acks.track(m);
  // 1, 2 and 3 finish together; 5 too, while 4 still runs.
  for (const tag of [2, 1, 3, 5]) acks.ack(messages[tag - 1]);
  assert.deepEqual(frames, [], "nothing is sent before the turn ends");
  await nextTurn();
  assert.deepEqual(frames, ["ack ≤3", "ack 5"]);
  // 4 is requeued on its own, at once (a multiple nack would requeue its neighbours); 6 is then the last one.
  acks.requeue(messages[3]);
  acks.ack(messages[5]);
  await nextTurn();
  assert.deepEqual(frames, ["ack ≤3", "ack 5", "nack 4", "ack 6"]);
});

test("a later delivery is acked as a multiple only once every older one is settled", async () => {
  const { frames, channel } = recordingChannel();
  const acks = new Acknowledger(channel, () => assert.fail("no error expected"));
  const messages = [7, 8, 9].map(delivery);
  for (const m of messages) acks.track(m);
  acks.ack(messages[2]);
  await nextTurn();
  acks.ack(messages[1]);
  await nextTurn();
  acks.ack(messages[0]);
  await nextTurn();
  assert.deepEqual(frames, ["ack 9", "ack 8", "ack 7"]);
});

test("a channel that refuses the acks is reported once per turn with how many deliveries it concerned", async () => {
  const { channel } = recordingChannel(true);
  const reported: number[] = [];
  const acks = new Acknowledger(channel, (_err, count) => reported.push(count));
  const messages = [1, 2].map(delivery);
  for (const m of messages) acks.track(m);
  for (const m of messages) acks.ack(m);
  await nextTurn();
  assert.deepEqual(reported, [2]);
});
