// Recurring schedules from the dashboard: an operator adds a per-second schedule on one web node, a tab on the
// other node sees its runs arrive live, a run's task page links back to it, then it is disabled and deleted.
import type { Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { E2E_SECURE_PORT, E2E_USERS } from "./env";
import { expectNoSeriousViolations } from "./a11y";
import { nodeUrl, openTab } from "./tabs";

const row = (page: Page, name: string) => page.getByRole("row").filter({ has: page.getByRole("rowheader", { name, exact: true }) });
/** The row's cells after its name: cron, type, next run, last run, enabled, actions. */
const cell = (page: Page, name: string, index: number) => row(page, name).getByRole("cell").nth(index);

test("an operator adds a per-second schedule: its runs appear live on the other node, a run links back to it; disable, delete", async ({ browser }) => {
  const name = `e2e-every-second-${Date.now().toString(36)}`;
  const [operator, watcher] = [await openTab(browser, 0), await openTab(browser, 1)];
  try {
    for (const tab of [operator, watcher]) {
      await tab.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Schedules" }).click();
      await expect(tab).toHaveURL(/\/schedules$/);
      await expect(tab.getByRole("heading", { name: "Schedules", exact: true })).toBeVisible();
    }

    const form = operator.getByRole("form", { name: "Add a schedule" });
    await form.getByLabel("Name").fill(name);
    await form.getByLabel("Cron").fill("61 * * * *");
    await expect(form.getByText(/Invalid value for minute: 61/)).toBeVisible();
    await form.getByLabel("Cron").fill("* * * * * *");
    await form.getByLabel("Task type").selectOption("echo");
    await form.getByLabel("Payload").fill('{"from": "e2e schedule"}');
    await form.getByRole("button", { name: "Add schedule" }).click();
    await expect(form.getByRole("status")).toHaveText(`Added ${name}.`);

    // The other node's tab sees it, then its runs: the last run's task changes every second, and so does the next run.
    await expect(cell(watcher, name, 0)).toHaveText("* * * * * *");
    await expect(cell(watcher, name, 1)).toHaveText("echo");
    const lastTask = row(watcher, name).getByRole("link", { name: new RegExp(`^Last task of ${name}`) });
    await expect(lastTask).toBeVisible();
    const firstHref = await lastTask.getAttribute("href");
    const firstNext = await cell(watcher, name, 2).textContent();
    await expect.poll(() => lastTask.getAttribute("href"), { message: "a newer run replaces the last one" }).not.toBe(firstHref);
    await expect.poll(() => cell(watcher, name, 2).textContent(), { message: "the next run moves on" }).not.toBe(firstNext);
    await expectNoSeriousViolations(operator, "/schedules with a running schedule and the add form");

    await row(operator, name).getByRole("button", { name: `Disable ${name}` }).click();
    for (const tab of [operator, watcher]) {
      await expect(cell(tab, name, 4)).toHaveText("no");
      await expect(cell(tab, name, 2)).toHaveText("disabled");
    }

    // A run's task page names its schedule and links back to it.
    const taskHref = (await lastTask.getAttribute("href"))!;
    await watcher.goto(new URL(taskHref, nodeUrl(1)).toString());
    await expect(watcher.getByRole("term").filter({ hasText: "Schedule" })).toBeVisible();
    await expect.poll(async () => (await watcher.request.get(new URL(`/api${taskHref}`, nodeUrl(1)).toString()).then((r) => r.json())).status, { message: "the worker ran the scheduled task" }).toBe("succeeded");
    await watcher.getByRole("link", { name, exact: true }).click();
    await expect(watcher).toHaveURL(new RegExp(`/schedules#schedule-${name}$`));
    await expect(row(watcher, name)).toBeVisible();

    // Delete asks first; then it is gone from both tabs.
    await row(operator, name).getByRole("button", { name: `Delete ${name}` }).click();
    await expectNoSeriousViolations(operator, "/schedules asking to confirm a delete");
    await operator.getByRole("button", { name: `Yes, delete ${name}` }).click();
    for (const tab of [operator, watcher]) await expect(row(tab, name)).toHaveCount(0);
  } finally {
    // Never leave a per-second schedule behind for the other specs.
    await operator.request.delete(`${nodeUrl(0)}api/schedules/${name}`);
    await operator.context().close();
    await watcher.context().close();
  }
});

test("a viewer sees the schedules live, without the controls that change them", async ({ browser }) => {
  const name = `e2e-viewer-${Date.now().toString(36)}`;
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${E2E_SECURE_PORT}/schedules`);
  await expect(page).toHaveURL(/\/login(\?|$)/);
  await page.getByLabel("Username").fill(E2E_USERS.viewer.name);
  await page.getByLabel("Password").fill(E2E_USERS.viewer.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/schedules$/);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  try {
    // Made by an operator elsewhere (the open node): the viewer's tab on the secured node shows it.
    expect((await page.request.post(`${nodeUrl(0)}api/schedules`, { data: { name, cron: "0 0 1 1 *", type: "echo" } })).status()).toBe(201);
    await expect(cell(page, name, 0)).toHaveText("0 0 1 1 *");
    await expect(row(page, name).getByRole("button")).toHaveCount(0);
    await expect(page.getByRole("form", { name: "Add a schedule" })).toHaveCount(0);
    await expect(page.getByText("Your viewer role can watch but not change anything.")).toBeVisible();
    await expectNoSeriousViolations(page, "/schedules as a viewer");
  } finally {
    await page.request.delete(`${nodeUrl(0)}api/schedules/${name}`);
  }
  await expect(row(page, name)).toHaveCount(0);
  await page.context().close();
});
