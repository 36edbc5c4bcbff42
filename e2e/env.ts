// The environment of the end-to-end run's servers: its own queue, channel and Redis prefix.
const E2E_BASE_PORT = Number(process.env.E2E_PORT ?? 3310);
export const E2E_PORTS = [E2E_BASE_PORT, E2E_BASE_PORT + 1] as const;
/** A third web node on the same queue and keys, with sign-in required (TASKCAST_USERS). */
export const E2E_SECURE_PORT = E2E_BASE_PORT + 2;

/** The secured node's users: only for tests, their hashes are made in e2e/global-setup.ts. */
export const E2E_USERS = {
  operator: { name: "alice", role: "operator", password: "alice-e2e-password" },
  viewer: { name: "bob", role: "viewer", password: "bob-e2e-password" },
} as const;

export function e2eEnv(run: string): Record<string, string> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  return { ...inherited, NODE_ENV: "production", TASK_QUEUE: run, BROADCAST_CHANNEL: run, KEY_PREFIX: run, WORKER_CONCURRENCY: "4", LOG_LEVEL: "warn", HOST: "127.0.0.1", WORKER_METRICS_PORT: "0" };
}
