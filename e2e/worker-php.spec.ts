// The PHP example worker (examples/php-worker) as a real process runs a task submitted from the dashboard's form:
// the tab shows it running with progress, then succeeded with its result. Named to run after the screenshots: its
// worker and queue stay listed for minutes.
import { expect, test } from "./fixtures";
import { connect } from "amqplib";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { loadConfig } from "../server/config";
import { E2E_PORTS, e2eEnv } from "./env";

const config = loadConfig(e2eEnv(process.env.TASKCAST_E2E_RUN!));
const queue = `${config.TASK_QUEUE}-images`;
let php: ChildProcess | undefined;
let output = "";

test.beforeAll(async () => {
  const child = spawn("php", ["examples/php-worker/worker.php"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_ENV: "production", RABBITMQ_URL: config.rabbitmqUrls[0], TASK_QUEUE: config.TASK_QUEUE, WORKER_QUEUE: queue },
    stdio: ["ignore", "pipe", "pipe"],
  });
  php = child;
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  // It announces, waits for a web node to declare its queue, then consumes it.
  await expect.poll(() => (child.exitCode === null ? /"consuming tasks"/.test(output) : `exited: ${output}`), { timeout: 20_000 }).toBe(true);
});

test.afterAll(async () => {
  if (php && php.exitCode === null) {
    php.kill("SIGTERM");
    await once(php, "exit");
  }
  const model = await connect(config.rabbitmqUrls[0]);
  const ch = await model.createChannel();
  ch.on("error", () => undefined);
  await ch.deleteQueue(queue).catch(() => undefined);
  await model.close();
});

test("the PHP worker runs a task submitted from the dashboard: progress, then succeeded with its result", async ({ browser }) => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${E2E_PORTS[0]}/`);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");

  // The form offers the announced type, with its queue, within its 5 s refresh.
  const typeSelect = page.getByLabel("Task type");
  await expect(typeSelect.getByRole("option", { name: `resize (${queue})` })).toBeAttached({ timeout: 15_000 });
  await typeSelect.selectOption("resize");
  await page.getByLabel("Payload", { exact: true }).fill('{"width": 640, "height": 480, "steps": 6, "stepMs": 400}');
  await page.getByRole("button", { name: "Submit task" }).click();
  const queued = page.getByText(/Queued resize task [0-9a-f]{8}\./);
  await expect(queued).toBeVisible();
  const shortId = (await queued.textContent())!.match(/task ([0-9a-f]{8})/)![1];

  // Running, with progress from the PHP worker's reports, on the PHP worker.
  const running = page.getByRole("region", { name: "Running tasks" }).getByRole("listitem").filter({ hasText: shortId });
  const progress = running.getByLabel(`Progress of resize task ${shortId}`);
  await expect(progress).toHaveAttribute("value", /^0\.[1-9]/);
  await expect(running).toContainText(/on \S+:\d+:[0-9a-f]{6}/);

  const recent = page.getByRole("region", { name: "Recent tasks" }).getByRole("listitem").filter({ hasText: shortId });
  await expect(recent.getByText("succeeded", { exact: true })).toBeVisible();
  await expect(recent).toContainText('{"width":640,"height":480,"bytes":921600}');
  await page.context().close();
});
