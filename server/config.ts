// Reads Taskcast's settings from the environment once, with defaults, and fails early on bad values.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { isLoopbackHost, parseHost } from "./access/origin-policy";
import { parseTokens, parseUsers, type TokenEntry, type UserEntry } from "./auth/credentials";
import { MAX_PREFETCH } from "./queue/prefetch-tuner";
import { taskTypes } from "./tasks/registry";
import { describeZodError } from "../lib/zod-message";

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().min(1);

const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  PORT: port.default(3000),
  /** Loopback by default. Any other address needs users configured (or ALLOW_INSECURE_NO_AUTH). */
  HOST: z.string().min(1).default("127.0.0.1"),
  /** Dashboard users, `name:role:bcrypt-hash` separated by commas or newlines (`npm run auth -- hash-password`). */
  TASKCAST_USERS: z.string().optional(),
  /** A file with the same entries, one per line. */
  TASKCAST_USERS_FILE: z.string().optional(),
  /** Service tokens for `Authorization: Bearer`, `name:role:token` (`npm run auth -- new-token`). */
  TASKCAST_TOKENS: z.string().optional(),
  TASKCAST_TOKENS_FILE: z.string().optional(),
  /** Signs session cookies; at least 32 characters. Unset: a random secret kept in Redis and shared by every web node. */
  SESSION_SECRET: z.string().min(32, "must be at least 32 characters (e.g. `openssl rand -base64 32`)").optional(),
  /** How long a sign-in lasts without use. */
  SESSION_TTL_HOURS: z.coerce.number().min(0.01).max(24 * 90).default(12),
  /** How long a sign-in lasts at most, however often it is used (7 days); fractions allowed (0.5 is 30 minutes). */
  SESSION_MAX_HOURS: z.coerce.number().min(0.001).max(24 * 366).default(168),
  /** Session cookies carry `Secure`: auto (when the request came over HTTPS), always, or never. */
  COOKIE_SECURE: z.enum(["auto", "always", "never"], { error: "must be auto, always or never" }).default("auto"),
  /** Serve on a non-loopback address without users: anyone who reaches the port is an operator. */
  ALLOW_INSECURE_NO_AUTH: z.stringbool({ error: "must be true or false" }).default(false),
  /**
   * Behind reverse proxies: how many (`true` is 1, `false` 0). The client address is then the X-Forwarded-For entry
   * the outermost proxy appended (the N-th from the right; what the client sent itself is ignored), and HTTPS comes
   * from X-Forwarded-Proto.
   */
  TRUST_PROXY: z
    .string()
    .trim()
    .regex(/^(true|false|yes|no|on|off|\d{1,2})$/i, "must be true, false or the number of proxies in front of Taskcast (e.g. 1)")
    .default("false")
    .transform((v) => (/^(true|yes|on)$/i.test(v) ? 1 : /^(false|no|off)$/i.test(v) ? 0 : Number(v))),
  /** API requests one client (user, token or address) may make per second on one web node, on average (0: no limit)… */
  API_RATE: z.coerce.number().int().min(0).default(50),
  /**
   * …and in a burst. Requests that read many records (searches, the audit log, lists, broadcast history) take one
   * more token per 100 task records, 500 audit entries or 100 broadcasts read. Socket.IO events of one user or
   * token, over all its connections to a web node, are limited the same way.
   */
  API_BURST: positiveInt.default(100),
  /** Socket.IO connections one user or token may hold on one web node (0: no cap). Not applied without users. */
  SOCKETS_PER_PRINCIPAL: z.coerce.number().int().min(0).max(100_000).default(50),
  /** Sign-in attempts one address (an IPv6 address: its /64) may make per minute on one web node. */
  LOGIN_ATTEMPTS_PER_MINUTE: positiveInt.max(1000).default(10),
  /** Failed sign-ins one username may have per hour, from any address, on all web nodes together (counted in Redis). */
  LOGIN_FAILURES_PER_USER_PER_HOUR: positiveInt.max(100_000).default(20),
  /** Password checks (bcrypt, on worker threads) one web node runs or queues at once; past it, sign-in answers 503. */
  LOGIN_CONCURRENT_CHECKS: positiveInt.max(1000).default(8),
  /** Audit log entries kept in Redis (the oldest go first); failed sign-ins are kept apart, up to as many again. */
  AUDIT_LOG_LIMIT: positiveInt.default(10_000),
  /** One URL, or the nodes of a cluster, comma-separated: a lost connection goes to the next one. */
  RABBITMQ_URL: z
    .string()
    .default("amqp://guest:guest@127.0.0.1:5672")
    .transform((v) => v.split(",").map((u) => u.trim()).filter(Boolean))
    .refine((urls) => urls.length > 0 && urls.every(isAmqpUrl), "must be an amqp:// or amqps:// URL, or several comma-separated"),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: "must be a redis:// or rediss:// URL" }).default("redis://127.0.0.1:6379"),
  TASK_QUEUE: z.string().min(1).max(200).default("tasks"),
  /** classic (single node, message priorities) or quorum (replicated across a RabbitMQ cluster, broker-side delivery limit). */
  TASK_QUEUE_TYPE: z.enum(["classic", "quorum"], { error: "must be classic or quorum" }).default("classic"),
  /**
   * Classic queues only: the highest message priority the work queue honours (x-max-priority), 1 to 9; 0 turns
   * priorities off (RabbitMQ then spends about 15 % less CPU per message). Priorities above it count as it.
   */
  TASK_MAX_PRIORITY: z.coerce.number().int().min(0).max(9).default(9),
  /** Quorum queues only: deliveries after which RabbitMQ itself dead-letters a message (a backstop for poison messages). */
  TASK_DELIVERY_LIMIT: positiveInt.max(1000).default(10),
  /**
   * Task types tracked by summary only, comma-separated (e.g. echo): a success is counted, not recorded; only tasks
   * that fail, retry, run long or owe a reply get a record. For very high volumes; see "Summary tracking" in
   * docs/operations.md for what such a type gives up. Each must be a built-in type.
   */
  TASK_TRACK_SUMMARY: z
    .string()
    .default("")
    .transform((v) => [...new Set(v.split(",").map((t) => t.trim()).filter(Boolean))]),
  /** Finished task records kept in Redis; the oldest finished go first, unfinished ones are never trimmed. */
  TASK_HISTORY_LIMIT: positiveInt.default(10_000),
  /** Dead letters per batch of a bulk retry or discard over all of them: each batch is one scan of the dead-letter queue. */
  DEAD_LETTER_BULK_BATCH: positiveInt.max(1000).default(500),
  BROADCAST_CHANNEL: z.string().min(1).default("broadcast"),
  WORKER_CONCURRENCY: positiveInt.max(1000).default(4),
  /**
   * Deliveries a worker holds unacknowledged (RabbitMQ's prefetch): at least WORKER_CONCURRENCY. Those beyond the
   * running ones wait in the worker, so the next task is at hand the moment one ends. Unset: sized to the tasks, from
   * twice the concurrency (at rest, long tasks) to sixteen times it and at least 64 (tasks of a ms or so); see
   * queue/prefetch-tuner.ts. RabbitMQ does not give a worker's held deliveries to another worker until it acknowledges
   * them, hands them back or dies: a fixed prefetch holds them, a sized one hands back those waiting when it shrinks.
   */
  WORKER_PREFETCH: positiveInt.max(MAX_PREFETCH).optional(),
  /** Prefix of every Redis key and of the Socket.IO adapter channels, so several installations can share a Redis. */
  KEY_PREFIX: z.string().min(1).default("taskcast"),
  BROADCAST_MAX_BYTES: positiveInt.default(4096),
  BROADCAST_HISTORY: positiveInt.default(1000),
  /** Broadcasts one user or token may send per second over Socket.IO, on average, over all its connections to a web node… */
  BROADCAST_RATE: positiveInt.default(10),
  /** …and in a burst. */
  BROADCAST_BURST: positiveInt.default(20),
  /**
   * Browser origins allowed to open a Socket.IO connection, comma-separated (e.g. https://ops.example.com);
   * the dashboard's own origin always is. `*` allows any (not advised).
   */
  ALLOWED_ORIGINS: z
    .string()
    .default("")
    .transform((v) => v.split(",").map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(z.union([z.literal("*"), z.url({ protocol: /^https?$/, error: "must be origins like https://example.com, comma-separated" }).transform((o) => new URL(o).origin)]))),
  /**
   * Without users (nothing authenticates requests), the Host names a node answers to besides localhost,
   * comma-separated (e.g. taskcast.internal or taskcast.internal:3000): stops DNS rebinding. HOST itself and the
   * origins in ALLOWED_ORIGINS count too. With users every request is authenticated and any Host is served.
   */
  ALLOWED_HOSTS: z
    .string()
    .default("")
    .transform((v) => v.split(",").map((h) => h.trim().toLowerCase()).filter(Boolean))
    .refine((hosts) => hosts.every((h) => parseHost(h) !== null), "must be host names like taskcast.example.com or taskcast.example.com:3000, comma-separated (no scheme, no *)"),
  /** A worker's GET /metrics and /healthz port (on HOST); 0 picks a free one. */
  WORKER_METRICS_PORT: port.default(9464),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

function isAmqpUrl(raw: string): boolean {
  try {
    return /^amqps?:$/.test(new URL(raw).protocol);
  } catch {
    return false;
  }
}

export type Config = Omit<z.infer<typeof EnvSchema>, "RABBITMQ_URL"> & {
  /** The first of RABBITMQ_URL's nodes. */
  RABBITMQ_URL: string;
  /** Every node RABBITMQ_URL names, in order. */
  rabbitmqUrls: string[];
  /** From TASKCAST_USERS and TASKCAST_USERS_FILE. */
  users: UserEntry[];
  /** From TASKCAST_TOKENS and TASKCAST_TOKENS_FILE. */
  tokens: TokenEntry[];
};

export class ConfigError extends Error {}

/** Parses an environment (default: process.env); throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Treat empty variables as unset, as shells make it easy to export FOO= by accident.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) throw new ConfigError(`Invalid configuration: ${describeZodError(parsed.error)}`);
  const c = parsed.data;
  if (c.WORKER_PREFETCH !== undefined && c.WORKER_PREFETCH < c.WORKER_CONCURRENCY) {
    throw new ConfigError(`Invalid configuration: WORKER_PREFETCH (${c.WORKER_PREFETCH}) must be at least WORKER_CONCURRENCY (${c.WORKER_CONCURRENCY}): a worker holds every task it runs.`);
  }
  const unknownTypes = c.TASK_TRACK_SUMMARY.filter((type) => !taskTypes.has(type));
  if (unknownTypes.length > 0) {
    throw new ConfigError(`Invalid configuration: TASK_TRACK_SUMMARY names ${unknownTypes.map((t) => `"${t}"`).join(", ")}, not a built-in task type; the built-in types are ${[...taskTypes.keys()].join(", ")}.`);
  }
  try {
    const users = [...parseUsers(c.TASKCAST_USERS ?? ""), ...parseUsers(readList(c.TASKCAST_USERS_FILE, "TASKCAST_USERS_FILE"), "TASKCAST_USERS_FILE")];
    const tokens = [...parseTokens(c.TASKCAST_TOKENS ?? ""), ...parseTokens(readList(c.TASKCAST_TOKENS_FILE, "TASKCAST_TOKENS_FILE"), "TASKCAST_TOKENS_FILE")];
    return { ...c, RABBITMQ_URL: c.RABBITMQ_URL[0], rabbitmqUrls: c.RABBITMQ_URL, users, tokens };
  } catch (err) {
    throw new ConfigError(`Invalid configuration: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function readList(path: string | undefined, variable: string): string {
  if (!path) return "";
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`${variable}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
}

/**
 * Refuses to serve on a non-loopback address without users, unless explicitly allowed; returns a warning
 * to log loudly when it is. A worker's metrics port follows the same rules as a web node.
 */
export function checkExposure(config: Config, part: "web" | "worker" = "web"): string | null {
  if (config.users.length === 0 && config.ALLOWED_ORIGINS.includes("*")) {
    throw new ConfigError(
      "Refusing ALLOWED_ORIGINS=* without sign-in: any website a user visits could then act here as the operator. " +
        "List the origins you use instead (e.g. ALLOWED_ORIGINS=https://ops.example.com), or configure users (TASKCAST_USERS, see the README's security section).",
    );
  }
  if (config.users.length > 0 || isLoopbackHost(config.HOST)) return null;
  if (!config.ALLOW_INSECURE_NO_AUTH) {
    if (part === "worker") {
      throw new ConfigError(
        `Refusing to serve the worker's /metrics on ${config.HOST} without sign-in: anyone who reaches it could read them. ` +
          "Configure users and tokens as on the web nodes (TASKCAST_USERS and TASKCAST_TOKENS; scrape with Authorization: Bearer <token>), " +
          "or serve on 127.0.0.1, or set ALLOW_INSECURE_NO_AUTH=true if something in front of the worker already authenticates every request.",
      );
    }
    throw new ConfigError(
      `Refusing to serve on ${config.HOST} without sign-in: anyone who reaches it could submit tasks and broadcast. ` +
        "Configure users (TASKCAST_USERS or TASKCAST_USERS_FILE, entries name:role:bcrypt-hash made with `npm run auth -- hash-password`), " +
        "or serve on 127.0.0.1, or set ALLOW_INSECURE_NO_AUTH=true if something in front of Taskcast already authenticates every request.",
    );
  }
  if (part === "worker") return `ALLOW_INSECURE_NO_AUTH is set: the worker serves /metrics on ${config.HOST} with NO sign-in.`;
  return `ALLOW_INSECURE_NO_AUTH is set: Taskcast serves on ${config.HOST} with NO sign-in, and anyone who reaches it is an operator.`;
}

/** A URL with its password masked, safe for logs and error messages. */

/** For entry points: the configuration, or a clear message and exit code 2. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
