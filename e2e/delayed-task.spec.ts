// Delayed tasks from the dashboard: the submit form's Delay, a scheduled task's countdown, its time coming, and a cancel.
import { expect, test } from "./fixtures";
import { randomUUID } from "node:crypto";
import type { TaskRecord } from "../lib/contract";
import { expectNoSeriousViolations } from "./a11y";
import { nodeUrl, openTab } from "./tabs";

test("a task submitted with a delay of a few seconds shows scheduled, then running, then succeeded, in every tab", async ({ browser, request }) => {
  const page = await openTab(browser, 0);
  const other = await openTab(browser, 1);
  await page.getByLabel("Task type").selectOption("sleep");
  // Long enough to be seen scheduled, then running, on a loaded 2-core machine: there the task's page has opened
  // more than 8 s after the submission.
  await page.getByLabel("Payload").fill(JSON.stringify({ ms: 4000 }));
  await page.getByLabel("Delay (s)").fill("20");
  await page.getByRole("button", { name: "Submit task" }).click();
  const feedback = page.getByRole("status").filter({ hasText: /Scheduled sleep task [0-9a-f]{8}\./ });
  await expect(feedback).toBeVisible();
  const [, short] = (await feedback.textContent())!.match(/task ([0-9a-f]{8})\./)!;

  // Scheduled, with its countdown, on both web nodes' tabs.
  for (const tab of [page, other]) {
    const item = tab.getByRole("region", { name: "Recent tasks" }).getByRole("listitem").filter({ hasText: short });
    await expect(item.getByText("scheduled", { exact: true })).toBeVisible();
    await expect(item.getByText(/Scheduled: queued in \d+\.\d s/)).toBeVisible();
  }
  const search = await request.get(`${nodeUrl(1)}api/tasks/search?q=${short}&limit=5`);
  const id = ((await search.json()) as { tasks: TaskRecord[] }).tasks[0].id;
  const scheduled = (await (await request.get(`${nodeUrl(0)}api/tasks/${id}`)).json()) as TaskRecord;
  expect(scheduled.status).toBe("scheduled");
  // The task's own page says when it runs, live.
  const detail = await (await browser.newContext()).newPage();
  await detail.goto(`${nodeUrl(1)}tasks/${id}`);
  await expect(detail.getByText("Runs at")).toBeVisible();

  // Then running (a sleep of 4 s), in the running list, not before its time.
  const running = page.getByRole("region", { name: "Running tasks" }).getByRole("listitem").filter({ hasText: short });
  await expect(running.getByText("running", { exact: true })).toBeVisible({ timeout: 30_000 });
  expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(scheduled.runAt!));
  // Then succeeded, in both tabs and on its page.
  for (const tab of [page, other]) {
    await expect(tab.getByRole("region", { name: "Recent tasks" }).getByRole("listitem").filter({ hasText: short }).getByText("succeeded", { exact: true })).toBeVisible();
  }
  await expect(detail.getByText("Was scheduled for")).toBeVisible();
  await expect(detail.getByText("succeeded", { exact: true }).first()).toBeVisible();
  const done = (await (await request.get(`${nodeUrl(0)}api/tasks/${id}`)).json()) as TaskRecord;
  expect(done.attempts).toBe(1);
});

test("a scheduled task is cancelled from the dashboard and never runs", async ({ browser, request }) => {
  const page = await openTab(browser, 0);
  await page.getByLabel("Task type").selectOption("echo");
  await page.getByLabel("Payload").fill(JSON.stringify({ never: randomUUID() }));
  await page.getByLabel("Delay (s)").fill("2");
  await page.getByRole("button", { name: "Submit task" }).click();
  const feedback = page.getByRole("status").filter({ hasText: /Scheduled echo task [0-9a-f]{8}\./ });
  await expect(feedback).toBeVisible();
  const [, short] = (await feedback.textContent())!.match(/task ([0-9a-f]{8})\./)!;
  const item = page.getByRole("region", { name: "Recent tasks" }).getByRole("listitem").filter({ hasText: short });
  await item.getByRole("button", { name: `Cancel task ${short}` }).click();
  await expect(item.getByText("cancelled", { exact: true })).toBeVisible();
  // Past its time (and the 250 ms the mover takes), it is still cancelled and never ran.
  const { tasks: [cancelled] } = (await (await request.get(`${nodeUrl(0)}api/tasks/search?q=${short}&limit=5`)).json()) as { tasks: TaskRecord[] };
  await page.waitForTimeout(Math.max(0, Date.parse(cancelled.runAt!) + 1500 - Date.now()));
  await expect(item.getByText("cancelled", { exact: true })).toBeVisible();
  const { tasks } = (await (await request.get(`${nodeUrl(0)}api/tasks/search?q=${short}&limit=5`)).json()) as { tasks: TaskRecord[] };
  expect(tasks[0].status).toBe("cancelled");
  expect(tasks[0].attempts).toBe(0);
});

test("both Delay and Run at, or a bad delay, submit nothing and say why", async ({ browser }) => {
  const page = await openTab(browser, 0);
  await page.getByLabel("Task type").selectOption("echo");
  await page.getByLabel("Delay (s)").fill("5");
  await page.getByLabel("Run at").fill("2099-01-01T10:00:00");
  await page.getByRole("button", { name: "Submit task" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Fill in Delay or Run at, not both." })).toBeVisible();
  await page.getByLabel("Delay (s)").fill("");
  await page.getByRole("button", { name: "Submit task" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /is more than 30 days ahead/ })).toBeVisible();
});

test("a scheduled task's countdown and page pass the accessibility check", async ({ browser, request }) => {
  const page = await openTab(browser, 0);
  await page.getByLabel("Task type").selectOption("echo");
  await page.getByLabel("Payload").fill(JSON.stringify({ a11y: randomUUID() }));
  await page.getByLabel("Delay (s)").fill("600");
  await page.getByRole("button", { name: "Submit task" }).click();
  const feedback = page.getByRole("status").filter({ hasText: /Scheduled echo task [0-9a-f]{8}\./ });
  await expect(feedback).toBeVisible();
  const [, short] = (await feedback.textContent())!.match(/task ([0-9a-f]{8})\./)!;
  const { tasks: [task] } = (await (await request.get(`${nodeUrl(0)}api/tasks/search?q=${short}&limit=5`)).json()) as { tasks: TaskRecord[] };
  try {
    await expect(page.getByRole("region", { name: "Recent tasks" }).getByText(/Scheduled: queued in \d+\.\d s/).first()).toBeVisible();
    await expectNoSeriousViolations(page, "dashboard with a scheduled task's countdown");
    await page.goto(`${nodeUrl(0)}tasks/${task.id}`);
    await expect(page.getByText("Runs at")).toBeVisible();
    await expectNoSeriousViolations(page, "a scheduled task's page");
  } finally {
    await request.post(`${nodeUrl(0)}api/tasks/${task.id}/cancel`);
    await page.context().close();
  }
});
