// Screenshots of the running app for the README, written to docs/screenshots/ (overwritten on every run).
import type { APIRequestContext, Browser, BrowserContextOptions, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import path from "node:path";
import { E2E_PORTS, E2E_SECURE_PORT, E2E_USERS } from "./env";

const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;
const DESKTOP = { width: 1280, height: 900 };
const shot = (page: Page, name: string, fullPage = false) =>
  page.screenshot({ path: path.resolve(test.info().config.rootDir, "../docs/screenshots", name), animations: "disabled", caret: "hide", fullPage });

async function submit(request: APIRequestContext, body: object): Promise<string> {
  const res = await request.post(`${nodeUrl(0)}api/tasks`, { data: body });
  expect(res.status()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function openDashboard(browser: Browser, options: BrowserContextOptions): Promise<Page> {
  const page = await (await browser.newContext(options)).newPage();
  await page.goto(nodeUrl(0));
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  return page;
}

const entry = (page: Page, sectionName: string, id: string) => page.getByRole("region", { name: sectionName }).getByRole("listitem").filter({ hasText: id.slice(0, 8) });

test("the dashboard with a running, a retrying and a dead task and broadcasts in two channels (light, dark and phone)", async ({ browser, request }) => {
  const desktop = await openDashboard(browser, { viewport: DESKTOP });
  const dark = await openDashboard(browser, { viewport: DESKTOP, colorScheme: "dark" });
  const phone = await openDashboard(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });

  const dead = await submit(request, { type: "flaky", payload: { failures: 10 } });
  await expect(entry(desktop, "Dead letters", dead)).toContainText("Failed 4 of 4 attempts");
  const running = await submit(request, { type: "sleep", payload: { ms: 60_000 } });
  for (const [channel, message] of [
    ["ops", "Deploy of api 2.14 finished"],
    ["billing", "Invoice run for May queued"],
    ["ops", "Worker pool scaled to 4"],
  ]) {
    expect((await request.post(`${nodeUrl(1)}api/broadcasts`, { data: { channel, message } })).status()).toBe(202);
  }
  const feed = desktop.getByRole("log", { name: "Broadcast feed" });
  await expect(feed.getByText("Worker pool scaled to 4")).toBeVisible();
  await expect(entry(desktop, "Running tasks", running).getByRole("progressbar")).toBeVisible();
  await expect.poll(async () => Number(await entry(desktop, "Running tasks", running).getByRole("progressbar").getAttribute("value"))).toBeGreaterThan(0.05);

  // A flaky task waits 1.6 s after its third failure: the screenshot is taken in that window.
  const retrying = await submit(request, { type: "flaky", payload: { failures: 10 } });
  await entry(desktop, "Recent tasks", retrying).getByText(/attempt 3 of 4 failed/).waitFor();
  await shot(desktop, "dashboard.png", true);
  for (const page of [dark, phone]) await expect(entry(page, "Dead letters", dead)).toBeVisible();
  await expect(entry(dark, "Running tasks", running)).toBeVisible();
  await shot(dark, "dashboard-dark.png", true);
  await shot(phone, "dashboard-phone.png");

  // Leave the worker free for the next tests.
  expect((await request.post(`${nodeUrl(0)}api/tasks/${running}/cancel`)).status()).toBe(202);
  await expect(entry(desktop, "Recent tasks", running).getByText("cancelled", { exact: true })).toBeVisible();
  await expect(entry(desktop, "Dead letters", retrying)).toBeVisible();
  for (const page of [desktop, dark, phone]) await page.context().close();
});

test("the tasks page filtered by type, and a task's page with two attempts", async ({ browser, request }) => {
  const page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  const flaky = await submit(request, { type: "flaky", payload: { failures: 1 } });
  for (const failures of [0, 2]) await submit(request, { type: "flaky", payload: { failures } });
  await submit(request, { type: "echo", payload: { hello: "not a flaky one" } });

  await page.goto(`${nodeUrl(0)}tasks`);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  await page.getByLabel("Type", { exact: true }).fill("flaky");
  await expect(page).toHaveURL(/type=flaky/);
  const rows = page.getByRole("table", { name: "Tasks" }).locator("tbody tr");
  await expect(rows.filter({ hasText: flaky.slice(0, 8) }).getByText("succeeded", { exact: true })).toBeVisible();
  await expect(rows.filter({ hasText: "echo" })).toHaveCount(0);
  await shot(page, "tasks-filtered.png");

  await page.getByRole("link", { name: flaky.slice(0, 8), exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/tasks/${flaky}$`));
  await expect(page.getByRole("table", { name: "Attempts" }).locator("tbody tr")).toHaveCount(2);
  await expect(page.getByRole("region", { name: "Result" })).toContainText('"attempts": 2');
  await shot(page, "task-detail.png", true);
  await page.context().close();
});

test("the insights page with some activity", async ({ browser, request }) => {
  for (let i = 0; i < 5; i++) await submit(request, { type: "echo", payload: { i } });
  await submit(request, { type: "fail", payload: { message: "for the chart" } });
  expect((await request.post(`${nodeUrl(1)}api/broadcasts`, { data: { channel: "ops", message: "charted" } })).status()).toBe(202);
  const page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  await page.goto(`${nodeUrl(0)}insights`);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  for (const caption of ["Tasks finished per second", "Queue depth", "Broadcasts per second"]) {
    await expect(page.getByRole("figure", { name: caption }).locator("canvas")).toHaveCount(1);
  }
  await expect(page.getByRole("figure", { name: "Tasks finished per second" }).getByText(/Last 15 minutes: [1-9]\d* succeeded, [1-9]\d* failed/)).toBeAttached();
  await expect(page.getByRole("table", { name: "Workers" }).getByRole("cell", { name: "live", exact: true })).toBeVisible();
  for (const port of E2E_PORTS) await expect(page.getByRole("table", { name: "Web nodes" }).getByRole("rowheader", { name: new RegExp(`:${port}\\b`) })).toBeVisible();
  await shot(page, "insights.png", true);
  await page.context().close();
});

test("the audit log on the web node that requires sign-in", async ({ browser }) => {
  const page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  await page.goto(`http://127.0.0.1:${E2E_SECURE_PORT}/audit`);
  await page.getByLabel("Username").fill(E2E_USERS.operator.name);
  await page.getByLabel("Password").fill(E2E_USERS.operator.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/audit$/);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  const rows = page.getByRole("table", { name: "Audit log" }).locator("tbody tr");
  await expect(rows.filter({ hasText: "alice (operator)" }).first()).toBeVisible();
  await shot(page, "audit.png");
  await page.context().close();
});
