// The tasks page and a task's own page: search, filters, paging, attempts, live updates and actions.
import type { APIRequestContext, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { randomUUID } from "node:crypto";
import { E2E_PORTS } from "./env";

const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;

async function submit(request: APIRequestContext, body: object): Promise<string> {
  const res = await request.post(`${nodeUrl(0)}api/tasks`, { data: body });
  expect(res.status()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const table = (page: Page) => page.getByRole("table", { name: "Tasks" });
const rowOf = (page: Page, id: string) => table(page).getByRole("row").filter({ has: page.getByRole("link", { name: id.slice(0, 8), exact: true }) });
const bodyRows = (page: Page) => table(page).locator("tbody tr");

test("the tasks page lists submitted tasks live, filters them by status and finds them by payload text", async ({ page, request }) => {
  await page.goto(nodeUrl(1));
  await page.getByRole("link", { name: "All tasks" }).click();
  await expect(page).toHaveURL(/\/tasks$/);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");

  const marker = `marker-${randomUUID().slice(0, 8)}`;
  await page.getByRole("searchbox", { name: "Search" }).fill(marker.toUpperCase());
  await expect(page).toHaveURL(new RegExp(`q=${marker.toUpperCase()}`));
  await expect(table(page).getByText("No tasks match.")).toBeVisible();

  // Submitted while the page is open: they arrive as events.
  const ok = await submit(request, { type: "echo", payload: { note: `${marker} hello` } });
  const failed = await submit(request, { type: "fail", payload: { message: `${marker} broke` } });
  const other = await submit(request, { type: "echo", payload: { note: "something else" } });
  await expect(rowOf(page, ok).getByText("succeeded", { exact: true })).toBeVisible();
  await expect(rowOf(page, failed).getByText("failed", { exact: true })).toBeVisible();
  await expect(rowOf(page, ok)).toContainText(`${marker} hello`);
  await expect(rowOf(page, failed)).toContainText(`${marker} broke`);
  await expect(bodyRows(page)).toHaveCount(2);
  await expect(rowOf(page, other)).toHaveCount(0);

  await page.getByRole("combobox", { name: "Status" }).selectOption("failed");
  await expect(bodyRows(page)).toHaveCount(1);
  await expect(rowOf(page, failed)).toBeVisible();

  // The address keeps the filters: a reload shows the same.
  await page.reload();
  await expect(page.getByRole("combobox", { name: "Status" })).toHaveValue("failed");
  await expect(page.getByRole("searchbox", { name: "Search" })).toHaveValue(marker.toUpperCase());
  await expect(bodyRows(page)).toHaveCount(1);
  await expect(rowOf(page, failed)).toBeVisible();

  // An id prefix finds its task.
  await page.getByRole("combobox", { name: "Status" }).selectOption("");
  await page.getByRole("searchbox", { name: "Search" }).fill(ok.slice(0, 13));
  await expect(bodyRows(page)).toHaveCount(1);
  await expect(rowOf(page, ok)).toBeVisible();
});

test("pages of 50 go forward and back", async ({ page, request }) => {
  const marker = `paging-${randomUUID().slice(0, 8)}`;
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) ids.push(await submit(request, { type: "echo", payload: { marker, i } }));
  await page.goto(`${nodeUrl(0)}tasks?q=${marker}`);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  await expect(bodyRows(page)).toHaveCount(50);
  // Newest first.
  await expect(bodyRows(page).first()).toContainText(ids[59].slice(0, 8));
  await expect(page.getByRole("button", { name: "Previous page" })).toBeDisabled();

  await page.getByRole("button", { name: "Next page" }).click();
  await expect(bodyRows(page)).toHaveCount(10);
  await expect(bodyRows(page).first()).toContainText(ids[9].slice(0, 8));
  await expect(bodyRows(page).last()).toContainText(ids[0].slice(0, 8));
  await expect(page.getByRole("button", { name: "Next page" })).toBeDisabled();

  await page.getByRole("button", { name: "Previous page" }).click();
  await expect(bodyRows(page)).toHaveCount(50);
  await expect(bodyRows(page).first()).toContainText(ids[59].slice(0, 8));
});

test("a task id links to its page, which shows the payload and both attempts of a flaky task as they happen", async ({ page, request }) => {
  const id = await submit(request, { type: "flaky", payload: { failures: 1 } });
  await page.goto(`${nodeUrl(0)}tasks?q=${id}`);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  await rowOf(page, id).getByRole("link", { name: id.slice(0, 8), exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/tasks/${id}$`));

  const payload = page.getByRole("region", { name: "Payload" });
  await expect(payload).toContainText('"failures": 1');
  const summary = page.getByRole("definition").filter({ has: page.locator(".status") });
  await expect(summary.getByText("succeeded", { exact: true })).toBeVisible();
  const attempts = page.getByRole("table", { name: "Attempts" }).locator("tbody tr");
  await expect(attempts).toHaveCount(2);
  await expect(attempts.nth(0)).toContainText("error");
  await expect(attempts.nth(0)).toContainText("flaky failure 1 of 1");
  await expect(attempts.nth(1)).toContainText("succeeded");
  await expect(page.getByRole("region", { name: "Result" })).toContainText('"attempts": 2');
});

test("a task's page follows it live, and Cancel there ends a running sleep task cancelled", async ({ page, request }) => {
  const id = await submit(request, { type: "sleep", payload: { ms: 60_000 } });
  await page.goto(`${nodeUrl(1)}tasks/${id}`);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  const status = page.getByRole("definition").filter({ has: page.locator(".status") });
  await expect(status.getByText("running", { exact: true })).toBeVisible();
  const progress = page.getByRole("progressbar", { name: `Progress of task ${id.slice(0, 8)}` });
  await expect.poll(async () => Number(await progress.getAttribute("value")), { message: "progress moves" }).toBeGreaterThan(0.05);

  await page.getByRole("button", { name: `Cancel task ${id.slice(0, 8)}` }).click();
  await expect(status.getByText("cancelled", { exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: `Cancel task ${id.slice(0, 8)}` })).toHaveCount(0);
  await expect(page.getByRole("button", { name: `Retry task ${id.slice(0, 8)}` })).toBeVisible();
  await expect(page.getByRole("table", { name: "Attempts" }).locator("tbody tr").first()).toContainText("cancelled");
});

test("an unknown task id shows that there is no such task", async ({ page }) => {
  const id = `no-such-task-${randomUUID().slice(0, 8)}`;
  await page.goto(`${nodeUrl(0)}tasks/${id}`);
  await expect(page.getByRole("alert").filter({ hasText: "No task with id" })).toContainText(`No task with id “${id}”`);
  await expect(page.getByRole("heading", { name: "Task not found" })).toBeVisible();
});

test("on a 390 px wide phone the tasks table scrolls sideways inside the page", async ({ browser, request }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const marker = `phone-${randomUUID().slice(0, 8)}`;
  const id = await submit(request, { type: "echo", payload: { marker, text: "a fairly long payload ".repeat(20) } });
  await page.goto(`${nodeUrl(0)}tasks?q=${marker}`);
  await expect(rowOf(page, id)).toBeVisible();
  await expect(page.getByRole("link", { name: id.slice(0, 8), exact: true })).toBeInViewport();
  // The page itself does not scroll sideways; the table's box does.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  const scroller = page.locator(".table-scroll").first();
  expect(await scroller.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
  await expect(page.getByRole("searchbox", { name: "Search" })).toBeInViewport();
  await context.close();
});
