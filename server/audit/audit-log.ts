// The audit log: every operator action and sign-in, in capped Redis streams shared by every web node. Failed sign-ins
// have a stream of their own, so that a flood of them can only push out older failed sign-ins, never operator actions.
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

/**
 * Appends an entry to KEYS[1] with an id after the newest of both streams (KEYS[1], KEYS[2]), so that the two share
 * one order and never repeat an id, and trims KEYS[1] to about ARGV[1] entries. ARGV[2..]: field, value, …
 */
const APPEND = `
local time = redis.call("TIME")
local ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local seq = 0
for _, key in ipairs(KEYS) do
  local newest = redis.call("XREVRANGE", key, "+", "-", "COUNT", 1)[1]
  if newest then
    local m, s = string.match(newest[1], "^(%d+)-(%d+)$")
    m, s = tonumber(m), tonumber(s)
    if m > ms or (m == ms and s >= seq) then ms, seq = m, s + 1 end
  end
end
return redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[1], string.format("%d-%d", ms, seq), unpack(ARGV, 2))
`;

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
    const [key, other] = input.action === "auth.login_failed" ? [this.keys.auditFailedSignIns, this.keys.audit] : [this.keys.audit, this.keys.auditFailedSignIns];
    try {
      const id = (await this.redis.eval(APPEND, 2, key, other, String(this.limit), ...Object.entries(fields).flat())) as string;
      const entry = toEntry(id, fields);
      if (entry) this.live?.emit("audit:recorded", entry);
      return entry;
    } catch (err) {
      this.log.error({ err: messageOf(err), action: input.action, actor: input.actor.name }, "could not write the audit log");
      return null;
    }
  }

  /**
   * Newest first across both streams, optionally before an id and filtered by action and actor. Looks at
   * `scanLimit` entries at most, and answers with `nextBefore` where it stopped; `meter` counts the entries read.
   */
  async list(query: AuditListQuery, options: { scanLimit?: number; meter?: ScanMeter } = {}): Promise<AuditPage> {
    const scanLimit = options.scanLimit ?? AUDIT_SCAN_LIMIT;
    const keys = query.action === undefined ? [this.keys.audit, this.keys.auditFailedSignIns] : [query.action === "auth.login_failed" ? this.keys.auditFailedSignIns : this.keys.audit];
    // Every entry read from Redis is counted, taken or not.
    const streams = keys.map((key) => new NewestFirst(this.redis, key, query.before, (read) => void (options.meter && (options.meter.scanned += read))));
    const entries: AuditEntry[] = [];
    let scanned = 0;
    let lastId: string | null = null;
    while (scanned < scanLimit) {
      const heads = await Promise.all(streams.map((s) => s.peek(scanLimit - scanned)));
      let newest = -1;
      heads.forEach((head, i) => {
        if (head && (newest < 0 || compareIds(head[0], heads[newest]![0]) > 0)) newest = i;
      });
      if (newest < 0) return { entries, nextBefore: null };
      const [id, flat] = streams[newest].take();
      scanned++;
      lastId = id;
      const entry = toEntry(id, Object.fromEntries(pairs(flat)));
      if (!entry || (query.action && entry.action !== query.action) || (query.actor && entry.actor.name !== query.actor)) continue;
      entries.push(entry);
      if (entries.length === query.limit) return { entries, nextBefore: id };
    }
    // Stopped by the scan limit: every entry newer than the last one scanned was scanned, so the caller may continue from it.
    return { entries, nextBefore: lastId };
  }
}

/** One stream read newest first, a batch at a time. */
class NewestFirst {
  private batch: Array<[string, string[]]> = [];
  private next = 0;
  private end: string;
  private exhausted = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    before: string | undefined,
    private readonly onRead: (entries: number) => void,
  ) {
    this.end = before ? `(${before}` : "+";
  }

  /** The newest entry not yet taken, or null when there is none; reads at most `wanted` entries ahead. */
  async peek(wanted: number): Promise<[string, string[]] | null> {
    if (this.next === this.batch.length && !this.exhausted) {
      const count = Math.max(1, Math.min(SCAN_BATCH, wanted));
      this.batch = (await this.redis.xrevrange(this.key, this.end, "-", "COUNT", count)) as Array<[string, string[]]>;
      this.onRead(this.batch.length);
      this.next = 0;
      this.exhausted = this.batch.length < count;
      if (this.batch.length > 0) this.end = `(${this.batch.at(-1)![0]}`;
    }
    return this.batch[this.next] ?? null;
  }

  /** Takes the entry peek() returned. */
  take(): [string, string[]] {
    return this.batch[this.next++];
  }
}

/** Orders stream ids (`ms-seq`) by time, then sequence. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(Number);
  const [bm, bs] = b.split("-").map(Number);
  return am - bm || as - bs;
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
