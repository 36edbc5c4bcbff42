// The web node's broadcast ingestor on its own thread, against the real Redis: outside messages are recorded there and
// reported to the node, the thread's log lines reach the node's logger, it gives the lease back when stopped, and a
// thread that dies is started again and goes on recording.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { pino } from "pino";
import { after, before, describe, test } from "node:test";
import type { Broadcast } from "../../lib/contract";
import { IngestThread } from "../../server/broadcast/ingest-host";
import { loadConfig } from "../../server/config";
import { redisKeys } from "../../server/redis/keys";
import { eventually } from "../helpers/stack";

const url = loadConfig(process.env).REDIS_URL;
const prefix = `test-ingest-thread-${randomUUID().slice(0, 8)}`;
const keys = redisKeys(prefix);
const channel = `${prefix}:outside`;
/** A probe for `eventually`, which waits for a value other than undefined: true once `condition` holds. */
const holds = (condition: () => boolean | Promise<boolean>) => async () => ((await condition()) ? true : undefined);

describe("broadcast ingest thread", () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(url);
  });
  after(async () => {
    const all = await redis.keys(`${prefix}:*`);
    if (all.length > 0) await redis.del(...all);
    redis.disconnect();
  });

  test("records outside messages on its thread, logs through the node, restarts after dying, gives the lease back", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const log = pino({ level: "info" }, sink);
    const recorded: Broadcast[] = [];
    const ingest = new IngestThread({ redisUrl: url, keyPrefix: prefix, channel, history: 100, maxBytes: 4096, logLevel: "info" }, log, (b) => recorded.push(b));
    await ingest.start();
    try {
      await eventually(holds(async () => (await redis.get(keys.broadcastIngestor)) !== null), "the thread holds the ingest lease");
      await eventually(holds(async () => lines.some((l) => l.thread === "broadcast-ingest" && l.level === 30 && /took the broadcast ingest lease/.test(String(l.msg)))), "its log line reached the node's logger, at info");

      await redis.publish(channel, "first");
      await eventually(holds(async () => recorded.some((b) => b.message === "first" && b.source === "redis")), "the first message recorded and reported");
      assert.deepEqual((await redis.lrange(keys.broadcastHistory, 0, -1)).map((raw) => (JSON.parse(raw) as Broadcast).message), ["first"]);

      // The thread dies (as on an uncaught error): it is started again and records what comes next, once.
      const thread = (ingest as unknown as { thread: { terminate(): Promise<number> } }).thread;
      await thread.terminate();
      // Its lease ran out with it (6 s at most) or is taken again by the new thread with a new token.
      await eventually(holds(async () => (ingest as unknown as { thread?: unknown }).thread !== undefined && (ingest as unknown as { thread?: unknown }).thread !== thread), "a new thread started", 5000);
      await redis.del(keys.broadcastIngestor);
      await eventually(holds(async () => (await redis.get(keys.broadcastIngestor)) !== null), "the new thread holds the lease", 8000);
      await redis.publish(channel, "second");
      await eventually(holds(async () => recorded.some((b) => b.message === "second")), "the second message recorded after the restart", 8000);
      assert.deepEqual((await redis.lrange(keys.broadcastHistory, 0, -1)).map((raw) => (JSON.parse(raw) as Broadcast).message).reverse(), ["first", "second"]);
    } finally {
      await ingest.stop();
    }
    assert.equal(await redis.get(keys.broadcastIngestor), null, "a stopped thread gave the lease back");
  });
});
