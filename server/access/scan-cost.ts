// What a request that reads many records costs its client: one rate-limit token per so many records read, so a
// cheap request for an expensive answer (a search through the whole history) counts as the many requests it is.

/** Records one token pays for: task records (up to 64 KiB each), audit entries (small), broadcasts (up to 4 KiB). */
export const RECORDS_PER_TOKEN = { tasks: 100, audit: 500, broadcasts: 100 } as const;

/** Counts the records a read looked at, for the caller to charge. */
export interface ScanMeter {
  scanned: number;
}

/** A client's budget as one request sees it, after the request's own token. */
export interface RequestCost {
  /** Tokens the client has left (Infinity: no limit). */
  available(): number;
  /** Takes `tokens` more (below zero if need be: the client waits until the refill has paid them back). */
  charge(tokens: number): void;
  /** Gives back `tokens` taken ahead of work that was not done (never above the bucket's size). */
  refund(tokens: number): void;
}

/** The most records a request may read: what its own token covers, plus what the client has left, at most `cap`. */
export function scanBudget(cost: RequestCost, perToken: number, cap: number): number {
  const left = cost.available();
  return left === Infinity ? cap : Math.min(cap, perToken * (1 + Math.floor(Math.max(0, left))));
}

/** Charges the records a request read beyond what its own token covered. */
export function chargeScan(cost: RequestCost, scanned: number, perToken: number): void {
  const tokens = Math.ceil(scanned / perToken) - 1;
  if (tokens > 0) cost.charge(tokens);
}

/** No limit: for callers without a client (internal reads, tests). */
export const UNLIMITED: RequestCost = { available: () => Infinity, charge: () => undefined, refund: () => undefined };

/**
 * Runs a read that may look at up to `cap` records, as many as the client's tokens pay for: those tokens are
 * taken before the read starts, so reads run side by side cannot each spend the same budget, and what the read
 * did not use is given back when it ends.
 */
export async function budgeted<T>(cost: RequestCost, perToken: number, cap: number, read: (scanLimit: number, meter: ScanMeter) => Promise<T>): Promise<T> {
  const scanLimit = scanBudget(cost, perToken, cap);
  // The request's own token paid for the first `perToken` records.
  const reserved = Math.max(0, Math.ceil(scanLimit / perToken) - 1);
  cost.charge(reserved);
  const meter: ScanMeter = { scanned: 0 };
  try {
    return await read(scanLimit, meter);
  } finally {
    const used = Math.max(0, Math.ceil(meter.scanned / perToken) - 1);
    if (reserved > used) cost.refund(reserved - used);
    else if (used > reserved) cost.charge(used - reserved);
  }
}

/** Runs a read with a fresh meter and charges what it read, also when it fails part way. */
export async function metered<T>(cost: RequestCost, perToken: number, read: (meter: ScanMeter) => Promise<T>): Promise<T> {
  const meter: ScanMeter = { scanned: 0 };
  try {
    return await read(meter);
  } finally {
    chargeScan(cost, meter.scanned, perToken);
  }
}
