// The broadcast ingest lease changing hands while the new holder's subscriber lags seconds behind Redis (a
// node whose event loop is saturated by fan-out): each outside message is still recorded exactly once.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import { after, before, describe, test } from "node:test";
import { BroadcastLog } from "../../server/broadcast/broadcast-log";
import { BroadcastIngestor } from "../../server/broadcast/ingestor";
import { loadConfig } from "../../server/config";
import { createLogger } from "../../server/logger";
import { redisKeys } from "../../server/redis/keys";
import { eventually } from "../helpers/stack";

const url = loadConfig(process.env).REDIS_URL;
const prefix = `test-ingest-${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix);
const channel = `${prefix}:outside`;
const log = createLogger("test", "silent");

/**
 * A real subscriber connection whose messages reach the ingestor `lagMs` late, in the order Redis sent them:
 * what a node sees when its event loop is seconds behind its socket.
 */
function laggingSubscriber(lagMs: number): { subscriber: Redis; connection: Redis } {
  const connection = new Redis(url);
  const facade = new EventEmitter();
  connection.on("message", (ch: string, raw: string) => setTimeout(() => facade.emit("message", ch, raw), lagMs));
  const subscriber = Object.assign(facade, { subscribe: (...channels: string[]) => connection.subscribe(...channels) });
  return { subscriber: subscriber as unknown as Redis, connection };
}

describe("broadcast ingest handover", () => {
  const clients: Redis[] = [];
  const open = () => {
    const client = new Redis(url);
    clients.push(client);
    return client;
  };
  let redis: Redis;
  before(() => {
    redis = open();
  });
  after(async () => {
    const all = await redis.keys(`${prefix}:*`);
    if (all.length > 0) await redis.del(...all);
    for (const c of clients) c.disconnect();
  });

  test("a new lease holder whose subscriber lags 8 s records every outside message once, none twice", async (t) => {
    const broadcastLog = new BroadcastLog(redis, keys, channel, 10_000);
    const first = new BroadcastIngestor(open(), open(), keys, channel, broadcastLog, 4096, log);
    await first.start();
    assert.ok(first.isLeader, "the first node holds the lease");
    const lagging = laggingSubscriber(8000);
    clients.push(lagging.connection);
    const second = new BroadcastIngestor(open(), lagging.subscriber, keys, channel, broadcastLog, 4096, log);
    await second.start();
    assert.ok(!second.isLeader);

    // An outside service publishes 40 messages a second throughout; the first holder stops after 2 s.
    const publisher = open();
    let sent = 0;
    const publishing = setInterval(() => void publisher.publish(channel, `outside ${++sent}`), 25);
    try {
      await new Promise((r) => setTimeout(r, 2000));
      await first.stop();
      const byFirst = (await broadcastLog.recent(10_000)).length;
      assert.ok(byFirst >= 40, `the first holder recorded ${byFirst} messages before it stopped`);
      await eventually(async () => (second.isLeader ? true : undefined), "the second node to take the lease", 10_000);
      // Long enough for the lagging node to catch up on the handover and record on its own for a while.
      await new Promise((r) => setTimeout(r, 11_000));
    } finally {
      clearInterval(publishing);
    }
    const total = sent;
    await eventually(async () => ((await broadcastLog.recent(10_000)).some((b) => b.message === `outside ${total}`) ? true : undefined), "the last message to be recorded", 20_000);
    await second.stop();

    const recorded = (await broadcastLog.recent(10_000)).reverse().map((b) => b.message);
    const counts = new Map<string, number>();
    for (const m of recorded) counts.set(m, (counts.get(m) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).map(([m]) => m);
    assert.deepEqual(twice, [], "no message recorded twice");
    const missing = Array.from({ length: total }, (_, i) => `outside ${i + 1}`).filter((m) => !counts.has(m));
    assert.deepEqual(missing, [], "no message lost");
    assert.deepEqual(recorded, Array.from({ length: total }, (_, i) => `outside ${i + 1}`), "recorded in the order published");
    t.diagnostic(`${total} outside messages, the lease handed to a node 8 s behind: each recorded once, in order`);
  });
});
