// Sends a finished task's record to its submitter's reply_to exactly once, whoever finishes it: a Taskcast
// worker's delivery (task-runner.ts) or an outside worker's report (worker-events.ts).
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { isFinished, type TaskRecord } from "../../lib/contract";
import { holdsReply, type TaskEvent } from "../../lib/task-lifecycle";

/** A reply claimed this long ago without being sent was abandoned (its sender died): another one sends it. */
const REPLY_CLAIM_STALE_MS = 30_000;
/** How often a sender looks again while another one sends the reply. */
const REPLY_WAIT_MS = 250;

export interface ReplyOnceDeps {
  /** Applies a lifecycle event to the stored record (compare-and-set); resolves with the stored record. */
  apply: (id: string, event: TaskEvent, known?: TaskRecord) => Promise<TaskRecord | undefined>;
  /** Publishes the record to reply_to; resolves once RabbitMQ confirmed it. */
  reply: (replyTo: string, correlationId: string | undefined, record: TaskRecord) => Promise<void>;
}

/**
 * The reply is claimed in the record (compare-and-set), published with a confirm, then marked sent. A sender that
 * finds another's fresh claim waits for it to be sent (or abandoned); a claim whose publish failed is released
 * and the error thrown, so a later attempt sends the reply. Resolves true when the reply is sent (or none is
 * owed), false when another sender still held it after REPLY_CLAIM_STALE_MS.
 */
export async function replyOnce(deps: ReplyOnceDeps, to: { replyTo?: unknown; correlationId?: unknown }, finished: TaskRecord): Promise<boolean> {
  const { replyTo, correlationId } = to;
  if (typeof replyTo !== "string" || !replyTo) return true;
  const id = finished.id;
  let known: TaskRecord | undefined = finished;
  for (let waited = 0; waited <= REPLY_CLAIM_STALE_MS; waited += REPLY_WAIT_MS) {
    const claim = randomUUID();
    const claimed = await deps.apply(id, { type: "reply-claim", at: new Date().toISOString(), staleBefore: new Date(Date.now() - REPLY_CLAIM_STALE_MS).toISOString(), claim }, known);
    if (!claimed || !isFinished(claimed.status) || claimed.reply?.state === "sent") return true;
    if (holdsReply(claimed, claim)) {
      try {
        await deps.reply(replyTo, typeof correlationId === "string" ? correlationId : undefined, { ...claimed, reply: undefined });
      } catch (err) {
        await deps.apply(id, { type: "reply-release", claim }, claimed);
        throw err;
      }
      await deps.apply(id, { type: "reply-sent", claim, at: new Date().toISOString() }, claimed);
      return true;
    }
    // Another sender is sending it now: wait for that one (a requeue would count as a delivery on a quorum queue).
    // Then read the record afresh: a copy judged against itself would never show that reply sent.
    known = undefined;
    await delay(REPLY_WAIT_MS);
  }
  return false;
}
