// The insights page: live activity charts kept in Redis, the workers list and the web nodes, on two web nodes.
import type { Locator, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { execFileSync } from "node:child_process";
import { loadConfig } from "../server/config";
import { E2E_PORTS, e2eEnv } from "./env";

const config = loadConfig(e2eEnv(process.env.TASKCAST_E2E_RUN!));
const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;

async function openInsights(page: Page, node: 0 | 1 = 0): Promise<void> {
  await page.goto(`${nodeUrl(node)}insights`);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
}

const figure = (page: Page, caption: string) => page.getByRole("figure", { name: caption });
/** A number in a chart's text summary, e.g. the 15-minute total of "succeeded". */
async function summaryNumber(chart: Locator, pattern: RegExp): Promise<number> {
  const text = (await chart.getByText(/^(Latest|No queue depth)/).textContent()) ?? "";
  const match = pattern.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}
const succeededTotal = /Last 15 minutes: (\d+) succeeded/;
const failedTotal = /Last 15 minutes: \d+ succeeded, (\d+) failed/;
const broadcastTotal = /Last 15 minutes: (\d+) broadcasts?/;

test("the activity charts render, follow tasks and broadcasts, and survive a reload", async ({ page, request }) => {
  await openInsights(page, 0);
  const tasks = figure(page, "Tasks finished per second");
  const depth = figure(page, "Queue depth");
  const broadcasts = figure(page, "Broadcasts per second");
  for (const chart of [tasks, depth, broadcasts]) {
    await expect(chart).toBeVisible();
    await expect(chart.locator("canvas")).toHaveCount(1);
  }
  // Queue depth is sampled every second by the web nodes.
  await expect(depth.getByText(/^Latest: \d+ ready, \d+ unacked\./)).toBeAttached();

  const before = { ok: await summaryNumber(tasks, succeededTotal), failed: await summaryNumber(tasks, failedTotal), sent: await summaryNumber(broadcasts, broadcastTotal) };
  expect(before.ok).not.toBeNaN();
  for (let i = 0; i < 3; i++) expect((await request.post(`${nodeUrl(1)}api/tasks`, { data: { type: "echo", payload: { i } } })).status()).toBe(202);
  expect((await request.post(`${nodeUrl(1)}api/tasks`, { data: { type: "fail", payload: { message: "charted" } } })).status()).toBe(202);
  for (let i = 0; i < 2; i++) expect((await request.post(`${nodeUrl(1)}api/broadcasts`, { data: { message: `charted ${i}` } })).status()).toBe(202);

  await expect.poll(() => summaryNumber(tasks, succeededTotal), { message: "succeeded total grows" }).toBeGreaterThanOrEqual(before.ok + 3);
  await expect.poll(() => summaryNumber(tasks, failedTotal), { message: "failed total grows" }).toBeGreaterThanOrEqual(before.failed + 1);
  await expect.poll(() => summaryNumber(broadcasts, broadcastTotal), { message: "broadcast total grows" }).toBeGreaterThanOrEqual(before.sent + 2);
  const seen = { ok: await summaryNumber(tasks, succeededTotal), sent: await summaryNumber(broadcasts, broadcastTotal) };

  // Kept in Redis: after a reload, and on the other web node, the series are still there.
  await page.reload();
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  await expect.poll(() => summaryNumber(figure(page, "Tasks finished per second"), succeededTotal)).toBeGreaterThanOrEqual(seen.ok);
  await expect.poll(() => summaryNumber(figure(page, "Broadcasts per second"), broadcastTotal)).toBeGreaterThanOrEqual(seen.sent);
  const other = await page.context().newPage();
  await openInsights(other, 1);
  await expect.poll(() => summaryNumber(figure(other, "Tasks finished per second"), succeededTotal)).toBeGreaterThanOrEqual(seen.ok);
});

test("the workers view lists the worker with its pid and concurrency, and the web nodes view both nodes", async ({ page }) => {
  const beats = execFileSync("redis-cli", ["-u", config.REDIS_URL, "HVALS", `${config.KEY_PREFIX}:workers`], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  const { pid } = JSON.parse(beats[0]) as { pid: number };

  await page.goto(nodeUrl(0));
  await page.getByRole("link", { name: "Insights" }).click();
  await expect(page).toHaveURL(/\/insights$/);

  const workers = page.getByRole("table", { name: "Workers" });
  const row = workers.getByRole("row").filter({ has: page.getByRole("cell", { name: String(pid), exact: true }) });
  await expect(row).toHaveCount(1);
  await expect(row.getByRole("cell", { name: "live", exact: true })).toBeVisible();
  await expect(row.getByRole("cell", { name: "4", exact: true })).toBeVisible();
  await expect(row.getByRole("cell", { name: /^\d of 4( \(\+\d+ waiting\))?$/ })).toBeVisible();

  const nodes = page.getByRole("table", { name: "Web nodes" });
  for (const port of E2E_PORTS) await expect(nodes.getByRole("row").filter({ has: page.getByRole("rowheader", { name: new RegExp(`:${port}\\b`) }) })).toHaveCount(1);
  // Lag is measured once a broadcast has passed through both nodes.
  await page.request.post(`${nodeUrl(0)}api/broadcasts`, { data: { message: "lag probe" } });
  for (const port of E2E_PORTS) {
    const nodeRow = nodes.getByRole("row").filter({ has: page.getByRole("rowheader", { name: new RegExp(`:${port}\\b`) }) });
    await expect(nodeRow.getByRole("cell", { name: /^\d+(\.\d+)? ms$/ })).toBeVisible();
  }
});

test("the insights page fits a 390 px wide screen", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 800 });
  await openInsights(page, 1);
  await expect(figure(page, "Tasks finished per second").locator("canvas")).toHaveCount(1);
  await expect(page.getByRole("heading", { name: "Workers" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Web nodes" })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});
