// Milliseconds of ISO timestamps, remembering the last two parsed. A worker parses each task's times several times
// (its metrics, its counters, the save's index scores), mostly the same millisecond's string: Date.parse costs
// about 0.27 us here, seven times a task.

let a = { text: "", ms: Number.NaN };
let b = { text: "", ms: Number.NaN };

/** `Date.parse(text)`: NaN for a string that is not a date. */
export function isoMs(text: string): number {
  if (text === a.text) return a.ms;
  if (text === b.text) {
    [a, b] = [b, a];
    return a.ms;
  }
  b = a;
  a = { text, ms: Date.parse(text) };
  return a.ms;
}
