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
export const UNLIMITED: RequestCost = { available: () => Infinity, charge: () => undefined };

/** Runs a read with a fresh meter and charges what it read, also when it fails part way. */
export async function metered<T>(cost: RequestCost, perToken: number, read: (meter: ScanMeter) => Promise<T>): Promise<T> {
  const meter: ScanMeter = { scanned: 0 };
  try {
    return await read(meter);
  } finally {
    chargeScan(cost, meter.scanned, perToken);
  }
}
