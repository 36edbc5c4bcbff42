// An outside worker's queue on the dashboard and the worker itself on the insights page, announced over AMQP as a
// PHP worker would (docs/worker-protocol.md). Named to run last: the announced worker stays listed for minutes.
import { expect, test } from "./fixtures";
import { connect, type ChannelModel } from "amqplib";
import { randomUUID } from "node:crypto";
import { eventsQueueName } from "../lib/worker-protocol";
import { loadConfig } from "../server/config";
import { E2E_PORTS, e2eEnv } from "./env";

const config = loadConfig(e2eEnv(process.env.TASKCAST_E2E_RUN!));
const nodeUrl = `http://127.0.0.1:${E2E_PORTS[0]}/`;

test("the dashboard shows an outside worker's queue live, and the insights page its language, host, queue and depth chart", async ({ browser }) => {
  const queue = `images-${randomUUID().slice(0, 6)}-${config.TASK_QUEUE}`;
  const worker = `php-e2e-${randomUUID().slice(0, 8)}`;
  let model: ChannelModel | undefined;
  let announcing: ReturnType<typeof setInterval> | undefined;
  try {
    model = await connect(config.rabbitmqUrls[0]);
    const ch = await model.createConfirmChannel();
    const announce = async () => {
      const body = { kind: "worker", v: 1, worker, queue, types: [{ name: "resize-e2e" }], concurrency: 3, inflight: 1, language: "php", host: "php-e2e-box" };
      ch.sendToQueue(eventsQueueName(config.TASK_QUEUE), Buffer.from(JSON.stringify(body)), { persistent: true });
      await ch.waitForConfirms();
    };
    await announce();
    // At least every 5 s, as the protocol asks; the test takes less, but a slow machine may not.
    announcing = setInterval(() => void announce().catch(() => undefined), 3000);

    const page = await (await browser.newContext()).newPage();
    await page.goto(nodeUrl);
    const panel = page.getByRole("region", { name: "Queue" });
    // Announced: Taskcast declares the queue, and every tab lists it.
    const row = panel.getByRole("row").filter({ has: page.getByRole("rowheader", { name: new RegExp(`^${queue.replace(/\./g, "\\.")}`) }) });
    await expect(row.getByRole("rowheader")).toHaveText(queue);
    await expect(row.getByRole("cell")).toHaveText(["0", "1", "0", /^Running\b/]);

    // Two tasks reach the queue: the open tab shows them without a reload.
    for (let i = 0; i < 2; i++) ch.sendToQueue(queue, Buffer.from(JSON.stringify({ type: "resize-e2e", payload: { i }, id: randomUUID() })), { persistent: true });
    await ch.waitForConfirms();
    await expect(row.getByRole("cell")).toHaveText(["2", "1", "0", /^Running\b/]);
    await expect(row.getByRole("rowheader")).toHaveText(queue);
    // TASK_QUEUE keeps its own numbers: the worker's delivery is not counted in them.
    await expect(panel.getByTestId("queue-consumers")).toHaveText("1");

    await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Insights" }).click();
    const workerRow = page.getByRole("table", { name: "Workers" }).getByRole("row").filter({ has: page.getByRole("rowheader", { name: worker, exact: true }) });
    await expect(workerRow.getByRole("cell", { name: "php", exact: true })).toBeVisible();
    await expect(workerRow.getByRole("cell", { name: "php-e2e-box", exact: true })).toBeVisible();
    await expect(workerRow.getByRole("cell", { name: queue, exact: true })).toBeVisible();
    // No pid and no done count: "-", never a misleading 0.
    await expect(workerRow.getByRole("cell", { name: "-", exact: true })).toHaveCount(2);
    await expect(workerRow.getByRole("cell", { name: "1 held", exact: true })).toBeVisible();

    // The depth chart shows the chosen queue's samples.
    await page.getByLabel("Queue depth of").selectOption(queue);
    const depth = page.getByRole("figure", { name: `Queue depth: ${queue}` });
    await expect(depth.locator("canvas")).toHaveCount(1);
    await expect(depth.getByText(/^Latest: 2 ready, 1 unacked\./)).toBeAttached();
    await page.context().close();
  } finally {
    clearInterval(announcing);
    if (model) {
      const ch = await model.createChannel();
      ch.on("error", () => undefined);
      await ch.deleteQueue(queue).catch(() => undefined);
      await model.close().catch(() => undefined);
    }
  }
});
