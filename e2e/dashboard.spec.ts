// What a person sees: tasks and broadcasts live in several tabs on two web nodes.
import type { Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { loadConfig } from "../server/config";
import { e2eEnv } from "./env";
import { openTab } from "./tabs";

const config = loadConfig(e2eEnv(process.env.TASKCAST_E2E_RUN!));

/** Publishes on the broadcast channel the way an outside service would. */
function redisCliPublish(message: string): void {
  execFileSync("redis-cli", ["-u", config.REDIS_URL, "PUBLISH", config.BROADCAST_CHANNEL, message]);
}

const feed = (page: Page) => page.getByRole("log", { name: "Broadcast feed" });

test("a sleep task submitted from one tab runs with progress and succeeds in three tabs", async ({ browser }) => {
  const tabs = [await openTab(browser, 0), await openTab(browser, 1), await openTab(browser, 0)];
  const [submitter] = tabs;
  await submitter.getByLabel("Task type").selectOption("sleep");
  await submitter.getByLabel("Payload").fill('{"ms": 3000}');
  await submitter.getByRole("button", { name: "Submit task" }).click();
  const queued = submitter.getByText(/Queued sleep task [0-9a-f]{8}\./);
  await expect(queued).toBeVisible();
  const shortId = (await queued.textContent())!.match(/task ([0-9a-f]{8})/)![1];

  for (const tab of tabs) {
    const running = tab.getByRole("region", { name: "Running tasks" }).getByRole("listitem").filter({ hasText: shortId });
    await expect(running.getByText("running", { exact: true })).toBeVisible();
    const bar = running.getByRole("progressbar");
    await expect.poll(async () => Number(await bar.getAttribute("value")), { message: "progress moves" }).toBeGreaterThan(0.1);
  }
  for (const tab of tabs) {
    const recent = tab.getByRole("region", { name: "Recent tasks" }).getByRole("listitem").filter({ hasText: shortId });
    await expect(recent.getByText("succeeded", { exact: true })).toBeVisible();
    await expect(tab.getByRole("region", { name: "Running tasks" }).getByText(shortId)).toHaveCount(0);
  }
  // Only the tab that submitted is told its task finished.
  await expect(submitter.getByText(new RegExp(`Your sleep task ${shortId} succeeded`))).toBeVisible();
  await expect(tabs[1].getByText(/Your sleep task/)).toHaveCount(0);
});

test("a broadcast from a tab and one from redis-cli appear once in every tab on both web nodes", async ({ browser }) => {
  const tabs = [await openTab(browser, 0), await openTab(browser, 1), await openTab(browser, 1)];
  const fromTab = `hello from a tab ${randomUUID().slice(0, 6)}`;
  const fromRedis = `hello from redis-cli ${randomUUID().slice(0, 6)}`;
  const sentinel = `sentinel ${randomUUID().slice(0, 6)}`;

  await tabs[1].getByLabel("Broadcast message").fill(fromTab);
  await tabs[1].getByRole("button", { name: "Send broadcast" }).click();
  await expect(tabs[1].getByLabel("Broadcast message")).toHaveValue("");
  redisCliPublish(fromRedis);
  redisCliPublish(sentinel);

  for (const tab of tabs) {
    // The sentinel was published last: once it shows, anything duplicated would show too.
    await expect(feed(tab).getByText(sentinel)).toHaveCount(1);
    await expect(feed(tab).getByText(fromTab, { exact: true })).toHaveCount(1);
    await expect(feed(tab).getByText(fromRedis, { exact: true })).toHaveCount(1);
  }
  // A tab opened afterwards loads the history.
  const late = await openTab(browser, 0);
  await expect(feed(late).getByText(fromTab, { exact: true })).toHaveCount(1);
});

test("broadcast text is shown as text, never run as HTML", async ({ browser }) => {
  const tab = await openTab(browser, 0);
  const evil = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> ${randomUUID().slice(0, 6)}`;
  redisCliPublish(evil);
  await expect(feed(tab).getByText(evil, { exact: true })).toBeVisible();
  await expect(feed(tab).locator("img, script")).toHaveCount(0);
  expect(await tab.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
});

test("the queue panel shows the worker as a consumer, and a bad payload gets a clear error", async ({ browser }) => {
  const tab = await openTab(browser, 1);
  const queue = tab.getByRole("region", { name: "Queue" });
  await expect(queue.getByTestId("queue-consumers")).toHaveText("1");
  await tab.getByLabel("Task type").selectOption("echo");
  await tab.getByLabel("Payload").fill("{not json");
  await tab.getByRole("button", { name: "Submit task" }).click();
  await expect(tab.getByRole("form", { name: "Submit a task" }).getByRole("alert")).toContainText("Payload is not valid JSON");
  await tab.getByLabel("Task type").selectOption("sleep");
  await tab.getByLabel("Payload").fill('{"ms": "later"}');
  await tab.getByRole("button", { name: "Submit task" }).click();
  await expect(tab.getByRole("form", { name: "Submit a task" }).getByRole("alert")).toContainText('Invalid payload for "sleep"');
});
