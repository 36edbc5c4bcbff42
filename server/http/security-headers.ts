// Security headers on every response, and the Content-Security-Policy that Next.js's nonced scripts work with.
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";

/** A fresh nonce for one page response. */
export const newNonce = () => randomBytes(16).toString("base64");

/**
 * The page policy: scripts only from this origin and with this response's nonce (Next.js reads it back from the
 * request's content-security-policy header and puts it on its own scripts); `strict-dynamic` lets those load
 * their chunks. Style attributes need 'unsafe-inline' (React renders them); no script is ever inline-allowed.
 */
export function pageCsp(nonce: string, host: string | undefined, dev: boolean): string {
  // The socket is same-origin; ws: and wss: are listed for browsers that do not count them as 'self'.
  const sockets = host && /^[A-Za-z0-9.:[\]-]+$/.test(host) ? ` ws://${host} wss://${host}` : "";
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${sockets}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** JSON and plain-text responses load nothing and may be framed by no one. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

export function setSecurityHeaders(res: ServerResponse, csp: string, https: boolean): void {
  res.setHeader("Content-Security-Policy", csp);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "same-origin");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  res.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
  if (https) res.setHeader("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
}
