// Reads Taskcast's settings from the environment once, with defaults, and fails early on bad values.
import { z } from "zod";
import { describeZodError } from "../lib/zod-message";

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().min(1);

const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  PORT: port.default(3000),
  /** Loopback by default: the dashboard has no sign-in yet, so it must not be reachable from other machines. */
  HOST: z.string().min(1).default("127.0.0.1"),
  RABBITMQ_URL: z.url({ protocol: /^amqps?$/, error: "must be an amqp:// or amqps:// URL" }).default("amqp://guest:guest@127.0.0.1:5672"),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: "must be a redis:// or rediss:// URL" }).default("redis://127.0.0.1:6379"),
  TASK_QUEUE: z.string().min(1).max(200).default("tasks"),
  /** classic (single node, message priorities) or quorum (replicated across a RabbitMQ cluster, broker-side delivery limit). */
  TASK_QUEUE_TYPE: z.enum(["classic", "quorum"], { error: "must be classic or quorum" }).default("classic"),
  /** Quorum queues only: deliveries after which RabbitMQ itself dead-letters a message (a backstop for poison messages). */
  TASK_DELIVERY_LIMIT: positiveInt.max(1000).default(10),
  /** Finished task records kept in Redis; the oldest finished go first, unfinished ones are never trimmed. */
  TASK_HISTORY_LIMIT: positiveInt.default(10_000),
  BROADCAST_CHANNEL: z.string().min(1).default("broadcast"),
  WORKER_CONCURRENCY: positiveInt.max(1000).default(4),
  /** Prefix of every Redis key and of the Socket.IO adapter channels, so several installations can share a Redis. */
  KEY_PREFIX: z.string().min(1).default("taskcast"),
  BROADCAST_MAX_BYTES: positiveInt.default(4096),
  BROADCAST_HISTORY: positiveInt.default(1000),
  /** Broadcasts one Socket.IO connection may send per second, on average… */
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
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type Config = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {}

/** Parses an environment (default: process.env); throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Treat empty variables as unset, as shells make it easy to export FOO= by accident.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) throw new ConfigError(`Invalid configuration: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** A URL with its password masked, safe for logs and error messages. */
export function maskUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(invalid URL)";
  }
}

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
