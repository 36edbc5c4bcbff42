// The submit form's Repeat count: many copies of a task go as one batch (task:submitBatch), all or none.
import { expect, test } from "./fixtures";
import { randomUUID } from "node:crypto";
import type { TaskSearchResult } from "../lib/task-search";
import { E2E_PORTS } from "./env";

const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;

test("Repeat 25 queues 25 copies of the task in one batch, and each runs once", async ({ page, request }) => {
  await page.goto(nodeUrl(0));
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  const marker = `repeat-${randomUUID().slice(0, 8)}`;
  await page.getByLabel("Task type").selectOption("echo");
  await page.getByLabel("Payload").fill(JSON.stringify({ marker }));
  await page.getByLabel("Repeat").fill("25");
  await page.getByRole("button", { name: "Submit task" }).click();
  const queued = page.getByRole("status").filter({ hasText: /Queued 25 echo tasks, [0-9a-f]{8} to [0-9a-f]{8}\./ });
  await expect(queued).toBeVisible();
  const [, first] = (await queued.textContent())!.match(/tasks, ([0-9a-f]{8}) to/)!;

  // The first task of the batch shows in the dashboard's recent tasks, finished.
  const recent = page.getByRole("region", { name: "Recent tasks" }).getByRole("listitem").filter({ hasText: first });
  await expect(recent.getByText("succeeded", { exact: true })).toBeVisible();
  // All 25 exist, carry the payload and ran once.
  await expect
    .poll(async () => {
      const res = await request.get(`${nodeUrl(1)}api/tasks/search?q=${marker}&limit=200`);
      const { tasks } = (await res.json()) as TaskSearchResult;
      return tasks.filter((t) => t.status === "succeeded" && t.attempts === 1).length;
    }, { message: "25 succeeded tasks, one attempt each" })
    .toBe(25);
  const { tasks } = (await (await request.get(`${nodeUrl(1)}api/tasks/search?q=${marker}&limit=200`)).json()) as TaskSearchResult;
  expect(tasks).toHaveLength(25);
});

test("Repeat outside 1 to 1,000 submits nothing", async ({ page }) => {
  await page.goto(nodeUrl(0));
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  await page.getByLabel("Task type").selectOption("echo");
  const repeat = page.getByLabel("Repeat");
  await repeat.fill("1001");
  expect(await repeat.evaluate((el: HTMLInputElement) => el.checkValidity())).toBe(false);
  await page.getByRole("button", { name: "Submit task" }).click();
  await expect(page.getByText(/Queued/)).toHaveCount(0);
});
