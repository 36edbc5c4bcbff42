// Submission latency: POST /api/tasks at fixed request rates (autocannon), p50/p99 at each, and the highest
// rate at which p99 stays under the bound.
import autocannon from "autocannon";

export interface SubmissionStep {
  rate: number;
  /** Requests answered per second (what the server actually held). */
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

export interface SubmissionResult {
  steps: SubmissionStep[];
  /** The highest rate whose p99 stayed under `boundMs` with every answer a 202, or 0. */
  highestRateHeld: number;
  boundMs: number;
}

async function step(url: string, rate: number, seconds: number): Promise<SubmissionStep> {
  const result = await autocannon({
    url: `${url}/api/tasks`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "echo", payload: { from: "bench" } }),
    // Enough connections to hold the rate with some slack; many more makes autocannon fire them in bursts,
    // which measures its own queueing (32 connections at 50 req/s: p50 24 ms, against 6 ms with 4).
    connections: Math.min(64, Math.max(2, Math.ceil(rate / 50))),
    overallRate: rate,
    duration: seconds,
  });
  return {
    rate,
    achieved: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** Steps up the rate until p99 passes the bound (or the server cannot keep up), `seconds` per step. */
export async function submissionLadder(url: string, rates: readonly number[], seconds: number, boundMs = 50): Promise<SubmissionResult> {
  const steps: SubmissionStep[] = [];
  let highestRateHeld = 0;
  for (const rate of rates) {
    const s = await step(url, rate, seconds);
    steps.push(s);
    const held = s.p99Ms < boundMs && s.non2xx === 0 && s.errors === 0 && s.achieved >= rate * 0.9;
    if (!held) break;
    highestRateHeld = rate;
  }
  return { steps, highestRateHeld, boundMs };
}
