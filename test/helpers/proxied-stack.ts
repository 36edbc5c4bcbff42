// Stacks with one process reaching RabbitMQ through a fault proxy, for describe blocks: `before` starts them,
// `after` stops them; the tests read the fixture once it is set.
import { after, before } from "node:test";
import { redisKeys } from "../../server/redis/keys";
import { WorkerDirectory } from "../../server/store/worker-directory";
import { FaultProxy } from "./fault-proxy";
import { startStack, type Stack } from "./stack";

const rabbitmq = () => process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** The web node reaches RabbitMQ through the proxy; a worker directly. */
export function stackWithProxiedWebNode(): { stack: Stack; proxy: FaultProxy } {
  const fixture = {} as { stack: Stack; proxy: FaultProxy };
  before(async () => {
    fixture.proxy = await FaultProxy.start(rabbitmq());
    fixture.stack = await startStack({ workers: 0, env: { RABBITMQ_URL: fixture.proxy.via(rabbitmq()), API_RATE: "0" } });
    await fixture.stack.addWorker({ RABBITMQ_URL: rabbitmq() });
  });
  after(async () => {
    fixture.proxy.restore();
    await fixture.stack.close();
    await fixture.proxy.close();
  });
  return fixture;
}

/**
 * One worker (WORKER_CONCURRENCY=2) reaches RabbitMQ through the proxy. `runningOn` lists the tasks a worker (by
 * default that one) says it runs, from its heartbeat.
 */
export function stackWithProxiedWorker() {
  const fixture = {} as { stack: Stack; proxy: FaultProxy; workerId: string };
  before(async () => {
    fixture.proxy = await FaultProxy.start(rabbitmq());
    fixture.stack = await startStack({ workers: 0, env: { API_RATE: "0" } });
    fixture.workerId = (await fixture.stack.addWorker({ RABBITMQ_URL: fixture.proxy.via(rabbitmq()), WORKER_CONCURRENCY: "2" })).id;
  });
  after(async () => {
    await fixture.stack.close();
    await fixture.proxy.close();
  });
  const runningOn = async (workerId = fixture.workerId) =>
    (await new WorkerDirectory(fixture.stack.redis, redisKeys(fixture.stack.config.KEY_PREFIX)).live()).find((w) => w.id === workerId)?.running ?? [];
  return { fixture, runningOn };
}
