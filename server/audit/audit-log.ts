// The audit log: every operator action and sign-in, in a capped Redis stream shared by every web node.
import { AuditEntrySchema, type AuditEntry, type AuditListQuery, type AuditPage, type Principal } from "../../lib/auth";
import type { ScanMeter } from "../access/scan-cost";
import { messageOf } from "../errors";
import type { LiveEvents } from "../live-events";
import type { Logger } from "../logger";
import type { Redis } from "../redis/connect";
import type { RedisKeys } from "../redis/keys";

/** What a caller records; id and time are added here. */
export type AuditRecord = Omit<AuditEntry, "id" | "at" | "actor"> & { actor: Principal | { kind: "anonymous"; name: string; role: null } };

const DETAIL_MAX = 200;
/** Entries read per round while filtering, so a rare action does not mean reading the whole log at once. */
const SCAN_BATCH = 500;
/** Most entries one query looks at before it answers with where to continue. */
export const AUDIT_SCAN_LIMIT = 20_000;

export class AuditLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly limit: number,
    private readonly log: Logger,
    /** Hears each entry written ("audit:recorded"): open tabs and the metrics. */
    private readonly live?: LiveEvents,
  ) {}

  /** Appends an entry. A failure is logged, never thrown: the action itself already happened. */
  async record(input: AuditRecord): Promise<AuditEntry | null> {
    const at = new Date().toISOString();
    const fields = {
      at,
      action: input.action,
      actor: JSON.stringify({ kind: input.actor.kind, name: input.actor.name, role: input.actor.role }),
      target: input.target ?? "",
      detail: input.detail === null ? "" : truncate(input.detail),
      ip: input.ip,
      via: input.via,
    };
    try {
      const id = await this.redis.xadd(this.keys.audit, "MAXLEN", "~", String(this.limit), "*", ...Object.entries(fields).flat());
      const entry = toEntry(id!, fields);
      if (entry) this.live?.emit("audit:recorded", entry);
      return entry;
    } catch (err) {
      this.log.error({ err: messageOf(err), action: input.action, actor: input.actor.name }, "could not write the audit log");
      return null;
    }
  }

  /**
   * Newest first, optionally before an id and filtered by action and actor. Looks at `scanLimit` entries at most,
   * and answers with `nextBefore` where it stopped; `meter` counts the entries read.
   */
  async list(query: AuditListQuery, options: { scanLimit?: number; meter?: ScanMeter } = {}): Promise<AuditPage> {
    const scanLimit = options.scanLimit ?? AUDIT_SCAN_LIMIT;
    const entries: AuditEntry[] = [];
    let end = query.before ? `(${query.before}` : "+";
    let scanned = 0;
    while (entries.length < query.limit && scanned < scanLimit) {
      const asked = Math.min(SCAN_BATCH, scanLimit - scanned);
      const batch = (await this.redis.xrevrange(this.keys.audit, end, "-", "COUNT", asked)) as Array<[string, string[]]>;
      if (batch.length === 0) return { entries, nextBefore: null };
      if (options.meter) options.meter.scanned += batch.length;
      for (const [id, flat] of batch) {
        scanned++;
        end = `(${id}`;
        const entry = toEntry(id, Object.fromEntries(pairs(flat)));
        if (!entry || (query.action && entry.action !== query.action) || (query.actor && entry.actor.name !== query.actor)) continue;
        entries.push(entry);
        if (entries.length === query.limit) return { entries, nextBefore: id };
      }
      if (batch.length < asked) return { entries, nextBefore: null };
    }
    // Stopped by the scan limit: the caller may continue from where the scan stopped.
    return { entries, nextBefore: end.slice(1) };
  }
}

function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

function toEntry(id: string, fields: Record<string, string>): AuditEntry | null {
  let actor: unknown;
  try {
    actor = JSON.parse(fields.actor ?? "");
  } catch {
    return null;
  }
  const parsed = AuditEntrySchema.safeParse({
    id,
    at: fields.at,
    action: fields.action,
    actor,
    target: fields.target || null,
    detail: fields.detail || null,
    ip: fields.ip ?? "",
    via: fields.via,
  });
  return parsed.success ? parsed.data : null;
}

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > DETAIL_MAX ? `${oneLine.slice(0, DETAIL_MAX - 1)}…` : oneLine;
}
