// JSON.parse that answers undefined instead of throwing (JSON.parse itself never yields undefined).

/**
 * What JSON text can start with, after whitespace. Outside services publish plain text on the broadcast channel:
 * such a message is answered without a throw, which costs far more than the parse (a stack trace each time).
 */
const JSON_START = /^[\s]*[{["\-0-9tfn]/;

export function safeJson(raw: string): unknown {
  if (!JSON_START.test(raw)) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
