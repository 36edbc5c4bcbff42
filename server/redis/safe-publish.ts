// A view of a Redis client whose PUBLISH never rejects, for libraries that publish without handling the promise.
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import type { Redis } from "./connect";

/**
 * The Socket.IO Redis adapter and emitter call `publish` and drop the promise; while Redis is down
 * that would be an unhandled rejection, which ends the process. Tabs reload their data on reconnect,
 * so a lost live update is only logged (once per outage).
 */
export function withSafePublish(redis: Redis, log: Logger): Redis {
  let failing = false;
  const publish = (...args: Parameters<Redis["publish"]>) =>
    redis.publish(...args).then(
      (receivers) => {
        failing = false;
        return receivers;
      },
      (err: unknown) => {
        if (!failing) log.warn({ err: messageOf(err) }, "Redis publish failed; live updates are lost until Redis is back");
        failing = true;
        return 0;
      },
    );
  return new Proxy(redis, {
    get(target, prop) {
      if (prop === "publish") return publish;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" && prop !== "constructor" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
