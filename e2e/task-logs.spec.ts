// A running task's log lines arrive live on its page, grouped by attempt, newest at the bottom.
import { expect, test } from "./fixtures";
import { E2E_PORTS } from "./env";

const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;

test("a running sleep task's log lines arrive live on its page, on another web node than its submission", async ({ page, request }) => {
  const res = await request.post(`${nodeUrl(0)}api/tasks`, { data: { type: "sleep", payload: { ms: 12_000 } } });
  expect(res.status()).toBe(202);
  const { id } = (await res.json()) as { id: string };
  const logLoads: string[] = [];
  page.on("request", (req) => {
    if (req.url().includes(`/api/tasks/${id}/logs`)) logLoads.push(req.url());
  });

  await page.goto(`${nodeUrl(1)}tasks/${id}`);
  // The task runs 12 s: long enough to be seen running on a loaded 2-core machine, where opening the page has taken
  // more than 4 s.
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  const logs = page.getByRole("region", { name: "Logs" });
  const lines = logs.getByRole("list", { name: "Attempt 1 log lines" }).getByRole("listitem");

  // While the task runs, lines keep arriving: more of them, each a later step.
  await expect(page.getByLabel("Summary").getByText("running", { exact: true })).toBeVisible();
  await expect(lines.first()).toContainText(/slept \d+ of 12000 ms/);
  const seen = await lines.count();
  await expect.poll(() => lines.count()).toBeGreaterThan(seen);
  await expect(page.getByLabel("Summary").getByText("running", { exact: true })).toBeVisible();
  await expect(logs.getByRole("heading", { name: "Attempt 1" })).toBeVisible();

  // The last line is the newest, at the bottom, once the task has succeeded.
  await expect(page.getByLabel("Summary").getByText("succeeded", { exact: true })).toBeVisible({ timeout: 20_000 });
  await expect(lines.last()).toContainText("done: slept 12000 ms");
  await expect(lines.first()).toContainText("slept 0 of 12000 ms");
  // Pushed, not polled: the page loaded the lines once (on connecting).
  expect(logLoads).toHaveLength(1);
});
