// JSON.parse that answers undefined instead of throwing (JSON.parse itself never yields undefined).
export function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
