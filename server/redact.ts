// Secrets kept out of logs and messages: passwords in connection URLs, credentials in logged objects.

/** Fields the logger replaces with "[redacted]", whatever object carries them. */
export const LOG_REDACT_PATHS = ["password", "*.password", "token", "*.token", "authorization", "*.authorization", "*.headers.authorization", "cookie", "*.cookie", "*.headers.cookie", "SESSION_SECRET", "*.SESSION_SECRET"] as const;

/** The URL with its password replaced by ***, for logs and error messages. */
export function maskUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(invalid URL)";
  }
}
