// The environment of the end-to-end run's servers: its own queue, channel and Redis prefix.
const E2E_BASE_PORT = Number(process.env.E2E_PORT ?? 3310);
export const E2E_PORTS = [E2E_BASE_PORT, E2E_BASE_PORT + 1] as const;

export function e2eEnv(run: string): Record<string, string> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  return { ...inherited, NODE_ENV: "production", TASK_QUEUE: run, BROADCAST_CHANNEL: run, KEY_PREFIX: run, WORKER_CONCURRENCY: "4", LOG_LEVEL: "warn", HOST: "127.0.0.1", WORKER_METRICS_PORT: "0" };
}
