// Holds work that failed while Redis does not answer until Redis answers again, then runs it again, instead
// of failing it. A worker's deliveries wait this way rather than being requeued over and over: on a quorum
// queue every requeue counts towards x-delivery-limit, so a few seconds of outage would dead-letter tasks.
import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "../logger";
import { withinDeadline, type Redis } from "./connect";

const PROBE_EVERY_MS = 1000;
const PROBE_TIMEOUT_MS = 1000;

export class RedisOutageGate {
  private outage?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {}

  /** Runs `work`; if it fails while Redis does not answer, waits for Redis and runs it again. Other failures pass. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await work();
      } catch (err) {
        if (this.stopped || (await this.reachable())) throw err;
        await this.untilReachable();
        if (this.stopped) throw err;
      }
    }
  }

  /** Lets every held work fail now (shutdown): nothing waits for Redis any more. */
  stop(): void {
    this.stopped = true;
  }

  private async reachable(): Promise<boolean> {
    try {
      return (await withinDeadline(this.redis.ping(), PROBE_TIMEOUT_MS)) === "PONG";
    } catch {
      return false;
    }
  }

  /** One probe loop for all held work. */
  private untilReachable(): Promise<void> {
    return (this.outage ??= (async () => {
      this.log.warn("Redis does not answer: holding deliveries (unacknowledged, not requeued) until it does");
      while (!this.stopped && !(await this.reachable())) await delay(PROBE_EVERY_MS);
      if (!this.stopped) this.log.info("Redis answers again: running the held deliveries");
      this.outage = undefined;
    })());
  }
}
