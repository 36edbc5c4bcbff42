// This web node's broadcast delivery lag over the last minute: from a broadcast's `at` to its relay to the node's tabs.
import type { RelayLag } from "../../lib/insights";

const WINDOW_MS = 60_000;
/** Enough for a busy minute; the oldest samples go first beyond it. */
const MAX_SAMPLES = 10_000;

export class RelayLagTracker {
  private samples: Array<{ at: number; lagMs: number }> = [];

  /** Notes one broadcast relayed now whose `at` (ISO time) was stamped when it was appended. */
  note(stampedAt: string, now = Date.now()): void {
    const stamped = Date.parse(stampedAt);
    if (!Number.isFinite(stamped)) return;
    this.samples.push({ at: now, lagMs: Math.max(0, now - stamped) });
    if (this.samples.length > MAX_SAMPLES) this.samples.splice(0, this.samples.length - MAX_SAMPLES);
  }

  summary(now = Date.now()): RelayLag {
    const firstKept = this.samples.findIndex((s) => now - s.at <= WINDOW_MS);
    this.samples = firstKept === -1 ? [] : this.samples.slice(firstKept);
    if (this.samples.length === 0) return { count: 0, avgMs: null, maxMs: null };
    let sum = 0;
    let max = 0;
    for (const s of this.samples) {
      sum += s.lagMs;
      max = Math.max(max, s.lagMs);
    }
    return { count: this.samples.length, avgMs: Math.round((sum / this.samples.length) * 10) / 10, maxMs: max };
  }
}
