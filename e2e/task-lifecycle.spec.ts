// What an operator sees and does: retries, dead letters (retry with an edited payload, discard) and cancellation,
// live in tabs on both web nodes.
import type { APIRequestContext, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { nodeUrl, openTab } from "./tabs";

const DEAD_REASON = "Failed 4 of 4 attempts; last error: flaky failure 4 of 10";

/** Submits from the page's form and returns the short id from the confirmation. */
async function submitFromPage(page: Page, type: string, payload: string): Promise<string> {
  await page.getByLabel("Task type").selectOption(type);
  await page.getByLabel("Payload", { exact: true }).fill(payload);
  await page.getByRole("button", { name: "Submit task" }).click();
  const queued = page.getByText(new RegExp(`Queued ${type} task [0-9a-f]{8}\\.`));
  await expect(queued).toBeVisible();
  return (await queued.textContent())!.match(/task ([0-9a-f]{8})/)![1];
}

async function submitByApi(request: APIRequestContext, body: object): Promise<string> {
  const res = await request.post(`${nodeUrl(0)}api/tasks`, { data: body });
  expect(res.status()).toBe(202);
  return ((await res.json()) as { id: string }).id.slice(0, 8);
}

const section = (page: Page, name: string) => page.getByRole("region", { name });
const entry = (page: Page, sectionName: string, shortId: string) => section(page, sectionName).getByRole("listitem").filter({ hasText: shortId });

test("a flaky task retries, goes dead with its reason, and succeeds when retried with an edited payload", async ({ browser }) => {
  const tab = await openTab(browser, 0);
  const retryRequests: string[] = [];
  tab.on("request", (req) => {
    if (req.method() === "POST" && req.url().endsWith("/retry")) retryRequests.push(req.postData() ?? "");
  });
  const shortId = await submitFromPage(tab, "flaky", '{"failures": 10}');

  const recent = entry(tab, "Recent tasks", shortId);
  await expect(recent.getByText("retrying", { exact: true })).toBeVisible();
  await expect(recent).toContainText(/attempt [1-3] of 4 failed: flaky failure [1-3] of 10/);

  const dead = entry(tab, "Dead letters", shortId);
  await expect(dead.getByText("dead", { exact: true })).toBeVisible();
  await expect(dead).toContainText(DEAD_REASON);
  await expect(dead).toContainText("4 attempts");
  await expect(tab.getByText(`Your flaky task ${shortId} dead: ${DEAD_REASON}`)).toBeVisible();
  await expect(section(tab, "Queue").getByTestId("queue-dead")).toHaveText(/^[1-9]\d*$/);

  const edit = tab.getByRole("button", { name: `Edit payload of task ${shortId}` });
  await edit.click();
  await expect(edit).toHaveAttribute("aria-expanded", "true");
  const editor = tab.getByLabel(`Payload for task ${shortId}`);
  expect(JSON.parse(await editor.inputValue())).toEqual({ failures: 10 });

  // Invalid JSON is reported in the page and never sent.
  await editor.fill("{failures: 0");
  await tab.getByRole("button", { name: `Retry task ${shortId}` }).click();
  await expect(dead.getByRole("alert")).toContainText("Payload is not valid JSON");
  expect(retryRequests).toEqual([]);

  await editor.fill('{"failures": 0}');
  await tab.getByRole("button", { name: `Retry task ${shortId}` }).click();
  await expect(entry(tab, "Dead letters", shortId)).toHaveCount(0);
  expect(retryRequests.map((body) => JSON.parse(body))).toEqual([{ payload: { failures: 0 } }]);
  await expect(recent.getByText("succeeded", { exact: true })).toBeVisible();
  await expect(recent).toContainText('{"attempts":1}');
  await expect(tab.getByText(`Your flaky task ${shortId} succeeded.`)).toBeVisible();
});

test("a dead letter discarded in one tab leaves the dead-letter list in a tab on the other web node", async ({ browser, request }) => {
  const tabs = [await openTab(browser, 0), await openTab(browser, 1)];
  const shortId = await submitByApi(request, { type: "flaky", payload: { failures: 10 } });
  for (const tab of tabs) await expect(entry(tab, "Dead letters", shortId)).toContainText(DEAD_REASON);

  await tabs[0].getByRole("button", { name: `Discard task ${shortId}` }).click();
  for (const tab of tabs) {
    await expect(entry(tab, "Dead letters", shortId)).toHaveCount(0);
    // The record stays, dead and marked as discarded.
    const recent = entry(tab, "Recent tasks", shortId);
    await expect(recent.getByText("dead", { exact: true })).toBeVisible();
    await expect(recent).toContainText("Discarded from the dead letters.");
  }
  // A tab opened afterwards does not list it either.
  const late = await openTab(browser, 1);
  await expect(entry(late, "Recent tasks", shortId)).toBeVisible();
  await expect(entry(late, "Dead letters", shortId)).toHaveCount(0);
});

test("a running sleep task cancelled from a tab on the other web node ends cancelled in both tabs", async ({ browser }) => {
  const [submitter, other] = [await openTab(browser, 0), await openTab(browser, 1)];
  const shortId = await submitFromPage(submitter, "sleep", '{"ms": 60000}');
  for (const tab of [submitter, other]) {
    await expect(entry(tab, "Running tasks", shortId).getByText("running", { exact: true })).toBeVisible();
  }

  await other.getByRole("button", { name: `Cancel task ${shortId}` }).click();
  for (const tab of [submitter, other]) {
    await expect(entry(tab, "Recent tasks", shortId).getByText("cancelled", { exact: true })).toBeVisible();
    await expect(entry(tab, "Running tasks", shortId)).toHaveCount(0);
    await expect(tab.getByRole("button", { name: `Cancel task ${shortId}` })).toHaveCount(0);
  }
  await expect(submitter.getByText(new RegExp(`Your sleep task ${shortId} cancelled`))).toBeVisible();
  await expect(other.getByText(/Your sleep task/)).toHaveCount(0);
});

test("a queued task is cancelled before it runs, and a refused cancel shows the API's reason", async ({ browser, request }) => {
  const tab = await openTab(browser, 0);
  // Fill the worker's four slots so that the next task waits on the queue.
  const blockers = await Promise.all([0, 1, 2, 3].map(() => submitByApi(request, { type: "sleep", payload: { ms: 60_000 } })));
  for (const id of blockers) await expect(entry(tab, "Running tasks", id)).toBeVisible();
  const res = await request.post(`${nodeUrl(0)}api/tasks`, { data: { type: "echo", payload: { hello: "queued" } } });
  const { id } = (await res.json()) as { id: string };
  const shortId = id.slice(0, 8);
  const queued = entry(tab, "Recent tasks", shortId);
  await expect(queued.getByText("queued", { exact: true })).toBeVisible();

  // Another operator cancels it just before this tab's request reaches the server, which refuses the second cancel.
  await tab.route("**/api/tasks/*/cancel", async (route) => {
    expect((await request.post(`${nodeUrl(1)}api/tasks/${id}/cancel`)).status()).toBe(202);
    await route.continue();
  });
  await tab.getByRole("button", { name: `Cancel task ${shortId}` }).click();
  await expect(queued.getByRole("alert")).toContainText(`Could not cancel task ${shortId}: Task ${id} is cancelled`);
  await expect(queued.getByText("cancelled", { exact: true })).toBeVisible();
  await expect(queued).toContainText("Cancelled by an operator.");
  await tab.unroute("**/api/tasks/*/cancel");

  for (const blocker of blockers) await tab.getByRole("button", { name: `Cancel task ${blocker}` }).click();
  for (const blocker of blockers) await expect(entry(tab, "Recent tasks", blocker).getByText("cancelled", { exact: true })).toBeVisible();
});
