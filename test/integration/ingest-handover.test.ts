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

  /**
   * An outside service publishes `rate` messages a second; the first holder stops after `firstForMs` (or, with
   * `dies`, stops recording while its lease runs out, as a killed node's does); the second node, whose subscriber
   * is `lagMs` behind, takes over. Returns the messages sent and those recorded.
   */
  async function handOver(rate: number, firstForMs: number, lagMs: number, dies = false): Promise<{ sent: number; recorded: string[] }> {
    const broadcastLog = new BroadcastLog(redis, keys, channel, 1_000_000);
    await redis.del(keys.broadcastHistory, keys.broadcastIngestLog, keys.broadcastSeq);
    const first = new BroadcastIngestor(open(), open(), keys, channel, broadcastLog, 4096, log);
    await first.start();
    assert.ok(first.isLeader, "the first node holds the lease");
    const lagging = laggingSubscriber(lagMs);
    clients.push(lagging.connection);
    const second = new BroadcastIngestor(open(), lagging.subscriber, keys, channel, broadcastLog, 4096, log);
    await second.start();
    assert.ok(!second.isLeader);

    const publisher = open();
    let sent = 0;
    const perTick = Math.max(1, Math.round(rate / 40));
    const publishing = setInterval(() => {
      for (let i = 0; i < perTick; i++) void publisher.publish(channel, `outside ${++sent}`);
    }, 25);
    try {
      await new Promise((r) => setTimeout(r, firstForMs));
      // A dead holder's lease: the first node's writes fail from now on, and nobody may record for 6 s.
      if (dies) await redis.set(keys.broadcastIngestor, "a killed node's lease", "PX", 6000);
      await first.stop();
      const byFirst = await redis.llen(keys.broadcastHistory);
      assert.ok(byFirst >= rate, `the first holder recorded ${byFirst} messages before it stopped`);
      await eventually(async () => (second.isLeader ? true : undefined), "the second node to take the lease", 10_000);
      // Long enough for the lagging node to catch up on the handover and record on its own for a while.
      await new Promise((r) => setTimeout(r, lagMs + 3000));
    } finally {
      clearInterval(publishing);
    }
    const total = sent;
    await eventually(async () => ((await broadcastLog.recent(1)).at(0)?.message === `outside ${total}` ? true : undefined), "the last message to be recorded", 30_000);
    await second.stop();
    const recorded = (await redis.lrange(keys.broadcastHistory, 0, -1)).reverse().map((raw) => (JSON.parse(raw) as { message: string }).message);
    return { sent: total, recorded };
  }

  const expectEachOnce = ({ sent, recorded }: { sent: number; recorded: string[] }) => {
    const counts = new Map<string, number>();
    for (const m of recorded) counts.set(m, (counts.get(m) ?? 0) + 1);
    assert.deepEqual([...counts].filter(([, n]) => n > 1).map(([m]) => m), [], "no message recorded twice");
    const all = Array.from({ length: sent }, (_, i) => `outside ${i + 1}`);
    assert.deepEqual(all.filter((m) => !counts.has(m)), [], "no message lost");
    assert.deepEqual(recorded, all, "recorded in the order published");
  };

  test("a new lease holder whose subscriber lags 8 s records every outside message once, none twice", async (t) => {
    const run = await handOver(40, 2000, 8000);
    expectEachOnce(run);
    t.diagnostic(`${run.sent} outside messages, the lease handed to a node 8 s behind: each recorded once, in order`);
  });

  test("the 6,000 and more messages published while a killed holder's lease runs out are all recorded, none dropped", async (t) => {
    const run = await handOver(1000, 2000, 3000, true);
    expectEachOnce(run);
    t.diagnostic(`${run.sent} outside messages at 1,000 a second, the holder killed after 2 s, a new holder 3 s behind: each recorded once, in order`);
  });
});
