// Bulk actions in the Dead letters panel: select two dead letters, "Retry selected", and they leave the list in tabs on
// both web nodes while the third stays; "Retry all" asks for a confirmation first; "Discard selected" removes the third.
import type { APIRequestContext, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import type { TaskRecord } from "../lib/contract";
import { nodeUrl, openTab } from "./tabs";

async function submitDying(request: APIRequestContext): Promise<string> {
  const res = await request.post(`${nodeUrl(0)}api/tasks`, { data: { type: "flaky", payload: { failures: 10 } } });
  expect(res.status()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const panel = (page: Page) => page.getByRole("region", { name: "Dead letters" });
const entry = (page: Page, id: string) => panel(page).getByRole("listitem").filter({ hasText: id.slice(0, 8) });

test("an operator selects two dead letters and retries them: they leave the list in both tabs, the third stays", async ({ browser, request }) => {
  const [tab, other] = [await openTab(browser, 0), await openTab(browser, 1)];
  const ids = [await submitDying(request), await submitDying(request), await submitDying(request)];
  for (const id of ids) await expect(entry(tab, id)).toBeVisible({ timeout: 30_000 });
  const bodies: unknown[] = [];
  tab.on("request", (req) => {
    if (req.method() !== "POST" || !req.url().includes("/api/dead-letters/")) return;
    const body = JSON.parse(req.postData() ?? "null") as { ids?: string[] };
    bodies.push({ url: new URL(req.url()).pathname, ids: body.ids ? [...body.ids].sort() : body });
  });

  // Nothing selected: the selected actions are off.
  await expect(panel(tab).getByRole("button", { name: "Retry selected" })).toBeDisabled();
  for (const id of ids.slice(0, 2)) await panel(tab).getByRole("checkbox", { name: `Select task ${id.slice(0, 8)}` }).check();
  await panel(tab).getByRole("button", { name: "Retry selected (2)" }).click();
  for (const page of [tab, other]) {
    for (const id of ids.slice(0, 2)) await expect(entry(page, id)).toHaveCount(0);
    await expect(entry(page, ids[2])).toBeVisible();
  }
  await expect(panel(tab).getByRole("status").filter({ hasText: "Retried 2 dead letters." })).toBeVisible();
  expect(bodies).toEqual([{ url: "/api/dead-letters/retry", ids: ids.slice(0, 2).sort() }]);
  for (const id of ids.slice(0, 2)) {
    const record = (await (await request.get(`${nodeUrl(1)}api/tasks/${id}`)).json()) as TaskRecord;
    expect(record.retriedAt, "retried as a single retry would").toBeTruthy();
  }

  // "Retry all" only asks; Cancel sends nothing.
  await panel(tab).getByRole("button", { name: "Retry all" }).click();
  const confirm = panel(tab).getByRole("alertdialog");
  await expect(confirm).toContainText("Retry every dead letter");
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(confirm).toHaveCount(0);
  expect(bodies).toHaveLength(1);

  await panel(tab).getByRole("checkbox", { name: `Select task ${ids[2].slice(0, 8)}` }).check();
  await panel(tab).getByRole("button", { name: "Discard selected (1)" }).click();
  for (const page of [tab, other]) await expect(entry(page, ids[2])).toHaveCount(0);

  // The two retried ones fail every attempt again: discard them so other specs find the list as it was.
  for (const id of ids.slice(0, 2)) await expect(entry(tab, id)).toBeVisible({ timeout: 30_000 });
  const cleanup = await request.post(`${nodeUrl(0)}api/dead-letters/discard`, { data: { ids: ids.slice(0, 2) } });
  expect(cleanup.status()).toBe(202);
});
