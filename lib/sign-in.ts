// Where the browser goes to sign in, and back again afterwards, without ever leaving this site.
import type { SessionInfo } from "./auth";

/** With no users configured there is no sign-in: the server treats everyone as the `local` operator. */
export const NO_SESSION: SessionInfo = { authRequired: false, principal: null };

/**
 * The page to open after signing in: `next` when it is a path on this site, else the dashboard. Rejects
 * "//evil.example" and "/\\evil.example", which browsers read as other hosts, and anything with a scheme.
 */
export function safeNextPath(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  // Control characters (a tab or newline inside "/\t/evil.example") are dropped by URL parsers, so refuse them too.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(next)) return "/";
  return next;
}

/** Set once the tab is on its way to the sign-in page, or while it signs out (its socket is refused meanwhile). */
let leaving = false;

/**
 * Full load of the sign-in page, which brings the tab back to `next` (default: where it is now). Only the
 * first call counts, so a refused socket and a refused request do not both redirect.
 */
export function goToSignIn(next: string = window.location.pathname + window.location.search): void {
  if (leaving || window.location.pathname === "/login") return;
  leaving = true;
  window.location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/** Ends the session (the server also ends its sockets in every tab) and opens the sign-in page. */
export async function signOut(): Promise<void> {
  leaving = true;
  try {
    const res = await fetch("/api/auth/logout", { method: "POST" });
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
  } catch (err) {
    leaving = false;
    throw err;
  }
  window.location.assign("/login");
}
