// Who may do what: roles, the signed-in principal, sign-in and the audit log, shared by server, UI and tests.
import { z } from "./zod";

/** `viewer` sees everything and changes nothing; `operator` also submits, broadcasts, cancels, retries and discards. */
export const RoleSchema = z.enum(["viewer", "operator"], { error: "role must be viewer or operator" });
export type Role = z.infer<typeof RoleSchema>;

/**
 * Who a request or a socket acts for: a signed-in user, a service token, or `local` when no users are
 * configured and Taskcast serves only on loopback (everyone there is an operator).
 */
export const PrincipalSchema = z.object({
  kind: z.enum(["user", "token", "local"]),
  name: z.string(),
  role: RoleSchema,
});
export type Principal = z.infer<typeof PrincipalSchema>;

/**
 * Request header in which the web node's request guard hands the SessionInfo (JSON) to Next.js server
 * components; whatever a client sends in it is dropped.
 */
export const SESSION_HEADER = "x-taskcast-session";

/** How a Socket.IO handshake refusal for want of a session or token begins (the tab then goes to sign in). */
export const SIGN_IN_REQUIRED = "Sign in required";

/** Whether a principal may change things (submit, broadcast, cancel, retry, discard). */
export const canOperate = (principal: Principal | null | undefined): boolean => principal?.role === "operator";

/** The longest password bcrypt checks whole, in UTF-8 bytes. */
export const PASSWORD_MAX_BYTES = 72;

/** Body of POST /api/auth/login. */
export const LoginRequestSchema = z.object({
  username: z.string().trim().min(1, "username is required").max(100),
  password: z
    .string()
    .min(1, "password is required")
    .max(1024)
    // bcrypt reads only the first 72 bytes: anything after them would be silently ignored.
    .refine((p) => new TextEncoder().encode(p).length <= PASSWORD_MAX_BYTES, `password must be at most ${PASSWORD_MAX_BYTES} bytes (UTF-8); bcrypt ignores anything longer`),
});
export type LoginRequest = z.infer<typeof LoginRequestSchema>;

/** GET /api/auth/session, and the reply of a successful sign-in. */
export const SessionInfoSchema = z.object({
  /** True when users are configured: pages, the API and sockets need a session or a token. */
  authRequired: z.boolean(),
  principal: PrincipalSchema.nullable(),
});
export type SessionInfo = z.infer<typeof SessionInfoSchema>;

export const AUDIT_ACTIONS = ["task.submit", "task.submit_batch", "task.cancel", "task.retry", "task.discard", "dead-letters.retry", "dead-letters.discard", "queue.pause", "queue.resume", "schedule.create", "schedule.update", "schedule.delete", "broadcast.send", "auth.login", "auth.login_failed", "auth.logout"] as const;
export const AuditActionSchema = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditActionSchema>;

/** One operator action: who, what, when and from where. */
export const AuditEntrySchema = z.object({
  /** Redis stream id: time-ordered, unique across web nodes. */
  id: z.string(),
  at: z.string(),
  action: AuditActionSchema,
  actor: z.object({ kind: z.enum(["user", "token", "local", "anonymous"]), name: z.string(), role: RoleSchema.nullable() }),
  /** What it acted on: a task id, a broadcast id, a username. */
  target: z.string().nullable(),
  /** A short human summary, e.g. `type echo, priority 5` or the first characters of a broadcast. */
  detail: z.string().nullable(),
  /** Client address (X-Forwarded-For only when TRUST_PROXY is set). */
  ip: z.string(),
  /** `http` (the JSON API) or `socket` (the dashboard's live connection). */
  via: z.enum(["http", "socket"]),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

/** GET /api/audit?limit&before&action&actor: newest first; `before` is the id of the last entry of the previous page. */
export const AuditListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z
    .string()
    .regex(/^\d+-\d+$/, "before must be an audit entry id such as 1732480000000-0")
    .optional(),
  action: AuditActionSchema.optional(),
  actor: z.string().trim().min(1).max(100).optional(),
});
export type AuditListQuery = z.infer<typeof AuditListQuerySchema>;

export const AuditPageSchema = z.object({
  entries: z.array(AuditEntrySchema),
  /** Pass as `before` for the next (older) page; null at the end. */
  nextBefore: z.string().nullable(),
});
export type AuditPage = z.infer<typeof AuditPageSchema>;
