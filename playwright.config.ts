// End-to-end tests in Debian's chromium against two real web nodes and a worker on real RabbitMQ and Redis.
import { defineConfig } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { E2E_PORTS } from "./e2e/env";

// One set of queue, channel and key names per run; e2e/global-setup.ts starts the servers with them,
// and the test workers inherit the name from the runner.
process.env.TASKCAST_E2E_RUN ??= `e2e-${randomUUID().slice(0, 8)}`;

export default defineConfig({
  testDir: "e2e",
  testMatch: "**/*.spec.ts",
  workers: 1,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: "list",
  globalSetup: "./e2e/global-setup.ts",
  use: {
    headless: true,
    baseURL: `http://127.0.0.1:${E2E_PORTS[0]}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    },
  },
});
