// Bulk retry and discard of dead letters (`POST /api/dead-letters/retry` and `/discard`): by id (one batch) or
// all of them, in batches that yield the event loop, with progress to every tab, one audit entry, and one bulk
// action at a time across all web nodes (a lock in Redis).
import { randomUUID } from "node:crypto";
import { DeadLetterBulkSchema, type DeadLetterBulkAck, type DeadLetterBulkAction } from "../../lib/contract";
import { describeZodError } from "../../lib/zod-message";
import type { AuditLog } from "../audit/audit-log";
import { conflict, invalidInput } from "../errors";
import type { LiveEvents } from "../live-events";
import { redisCall, type Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";
import type { TaskStore } from "../store/task-store";
import { assertOperator, type Actor } from "./actor";
import type { TaskService } from "./task-service";

/** The lock's life; renewed at every batch, so a node that dies mid-way frees it within this time. */
const LOCK_TTL_MS = 60_000;
/** Deletes the lock only if it is still ours. */
const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;
/** Extends the lock only if it is still ours. */
const RENEW = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`;

export interface DeadLetterBulkDeps {
  tasks: Pick<TaskService, "retryMany" | "discardMany">;
  store: Pick<TaskStore, "deadLetterIds">;
  redis: Redis;
  keys: RedisKeys;
  audit: AuditLog;
  live: LiveEvents;
  /** Dead letters per batch (DEAD_LETTER_BULK_BATCH): each batch is one scan of the dead-letter queue. */
  batch: number;
}

export class DeadLetterBulk {
  constructor(private readonly deps: DeadLetterBulkDeps) {}

  async run(action: DeadLetterBulkAction, input: unknown, actor: Actor): Promise<DeadLetterBulkAck> {
    assertOperator(actor, `${action} dead letters`);
    const parsed = DeadLetterBulkSchema.safeParse(input);
    if (!parsed.success) throw invalidInput(`Invalid bulk ${action}: ${describeZodError(parsed.error)}. Send {"ids": ["<task id>", ...]} (1 to 1000 ids) or {"all": true}.`);
    const { redis, keys } = this.deps;
    const token = randomUUID();
    const held = await redisCall(() => redis.set(keys.deadLettersBulkLock, token, "PX", LOCK_TTL_MS, "NX"));
    if (held !== "OK") throw conflict(`A bulk retry or discard of dead letters is already running (on this or another web node); wait for it to finish (its progress shows in the Dead letters panel), then try again.`);
    try {
      const ids = "ids" in parsed.data ? parsed.data.ids : await redisCall(() => this.deps.store.deadLetterIds());
      const outcome = await this.inBatches(action, ids, actor, () => redis.eval(RENEW, 1, keys.deadLettersBulkLock, token, String(LOCK_TTL_MS)));
      const scope = "ids" in parsed.data ? `${parsed.data.ids.length} ids` : "all dead letters";
      const detail = `${action === "retry" ? "retried" : "discarded"} ${outcome.count} (${scope}${outcome.skipped.length > 0 ? `, ${outcome.skipped.length} skipped` : ""})`;
      void this.deps.audit.record({ action: action === "retry" ? "dead-letters.retry" : "dead-letters.discard", actor: actor.principal, target: "dead-letters", detail, ip: actor.ip, via: actor.via });
      return outcome;
    } finally {
      await redis.eval(RELEASE, 1, keys.deadLettersBulkLock, token).catch(() => undefined);
    }
  }

  private async inBatches(action: DeadLetterBulkAction, ids: readonly string[], actor: Actor, renew: () => Promise<unknown>): Promise<DeadLetterBulkAck> {
    const size = this.deps.batch;
    const total = ids.length;
    const progress = (done: number, count: number, finished: boolean) => this.deps.live.emit("dead-letters:progress", { action, done, total, count, finished, by: actor.principal.name });
    let count = 0;
    const skipped: DeadLetterBulkAck["skipped"] = [];
    progress(0, 0, false);
    for (let done = 0; done < total; ) {
      const batch = ids.slice(done, done + size);
      const outcome = action === "retry" ? await this.deps.tasks.retryMany(batch, actor) : await this.deps.tasks.discardMany(batch, actor);
      count += outcome.count;
      skipped.push(...outcome.skipped);
      done += batch.length;
      if (done < total) {
        await renew().catch(() => undefined);
        progress(done, count, false);
        // Let the node serve others between batches.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    progress(total, count, true);
    return { count, skipped };
  }
}
