// Pausing and resuming the task queue from the dashboard: the state changes live in a tab on the other web node,
// a task submitted meanwhile waits queued, and a viewer sees the state without the button.
import type { Browser, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import type { TaskRecord } from "../lib/contract";
import { E2E_PORTS, E2E_SECURE_PORT, E2E_USERS } from "./env";

const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;

async function openTab(browser: Browser, url: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  return page;
}

const live = (page: Page) => expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
const queuePanel = (page: Page) => page.getByRole("region", { name: "Queue" });

test("an operator pauses the queue in one tab: both tabs show it paused and a new task waits; Resume runs it", async ({ browser }) => {
  const [operator, watcher] = [await openTab(browser, nodeUrl(0)), await openTab(browser, nodeUrl(1))];
  await Promise.all([live(operator), live(watcher)]);
  const queueName = (await queuePanel(operator).locator("code").first().textContent())!;
  try {
    await expect(queuePanel(watcher).getByTestId("queue-state")).toHaveText("Running");
    await queuePanel(operator).getByRole("button", { name: "Pause queue", exact: true }).click();
    for (const tab of [operator, watcher]) await expect(queuePanel(tab).getByTestId("queue-state")).toHaveText("Paused");
    await expect(queuePanel(operator).getByRole("button", { name: "Resume queue", exact: true })).toBeEnabled();

    // A task submitted while paused stays queued.
    const res = await operator.request.post(`${nodeUrl(0)}api/tasks`, { data: { type: "echo", payload: { paused: true } } });
    expect(res.status()).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const status = async () => ((await (await operator.request.get(`${nodeUrl(1)}api/tasks/${id}`)).json()) as TaskRecord).status;
    await operator.waitForTimeout(2000);
    expect(await status()).toBe("queued");

    await queuePanel(watcher).getByRole("button", { name: "Resume queue", exact: true }).click();
    for (const tab of [operator, watcher]) await expect(queuePanel(tab).getByTestId("queue-state")).toHaveText("Running");
    await expect.poll(status, { message: "the waiting task runs after the resume", timeout: 5000 }).toBe("succeeded");
  } finally {
    // Other specs share this queue: never leave it paused.
    await operator.request.post(`${nodeUrl(0)}api/queues/${encodeURIComponent(queueName)}/resume`);
    await operator.context().close();
    await watcher.context().close();
  }
});

test("a viewer sees the queue's state live, without the Pause button", async ({ browser }) => {
  const page = await openTab(browser, `http://127.0.0.1:${E2E_SECURE_PORT}/`);
  await expect(page).toHaveURL(/\/login(\?|$)/);
  await page.getByLabel("Username").fill(E2E_USERS.viewer.name);
  await page.getByLabel("Password").fill(E2E_USERS.viewer.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/\/login(\?|$)/);
  await live(page);
  const panel = queuePanel(page);
  await expect(panel.getByTestId("queue-state")).toHaveText("Running");
  await expect(panel.getByRole("button", { name: /Pause|Resume/ })).toHaveCount(0);
  const queueName = (await panel.locator("code").first().textContent())!;
  try {
    // Paused by an operator elsewhere (the open node): the viewer's tab on the secured node follows.
    expect((await page.request.post(`${nodeUrl(0)}api/queues/${encodeURIComponent(queueName)}/pause`)).status()).toBe(200);
    await expect(panel.getByTestId("queue-state")).toHaveText("Paused");
  } finally {
    await page.request.post(`${nodeUrl(0)}api/queues/${encodeURIComponent(queueName)}/resume`);
  }
  await expect(panel.getByTestId("queue-state")).toHaveText("Running");
  await page.context().close();
});
