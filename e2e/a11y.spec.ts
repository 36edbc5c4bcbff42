// Every page passes axe-core's WCAG 2.0 and 2.1 A and AA rules without a serious or critical violation, in light, in
// dark and on a phone, in the states that show the most of it: signed in as an operator (and as a viewer), tasks
// running, finished and dead, a scrolling broadcast feed, a task with two runs and their log lines, the confirmation
// and the payload editor open.
import type { APIRequestContext, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { expectNoSeriousViolations } from "./a11y";
import { E2E_SECURE_PORT, E2E_USERS } from "./env";
import { nodeUrl, signIn } from "./tabs";

const secure = (path: string) => `http://127.0.0.1:${E2E_SECURE_PORT}${path}`;
const live = (page: Page) => expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
const entry = (page: Page, section: string, id: string) => page.getByRole("region", { name: section }).getByRole("listitem").filter({ hasText: id.slice(0, 8) });

/** Tasks and broadcasts made once for every page checked below. */
interface Fixture {
  dead: string[];
  running: string;
  /** A sleep task cancelled mid-run, then retried to success: two runs, each with its attempt and log lines. */
  rerun: string;
  /** An echo task whose payload (and so result) is long enough to scroll in its box. */
  long: string;
}
let made: Fixture;
const FEED_FILLER = 30;

async function submit(request: APIRequestContext, body: object): Promise<string> {
  const res = await request.post(`${nodeUrl(0)}api/tasks`, { data: body });
  expect(res.status()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function status(request: APIRequestContext, id: string): Promise<string> {
  return ((await (await request.get(`${nodeUrl(0)}api/tasks/${id}`)).json()) as { status: string }).status;
}

async function logCount(request: APIRequestContext, id: string): Promise<number> {
  return ((await (await request.get(`${nodeUrl(0)}api/tasks/${id}/logs`)).json()) as { logs: unknown[] }).logs.length;
}

test.beforeAll(async ({ playwright }) => {
  test.setTimeout(60_000);
  const request = await playwright.request.newContext();
  const rerun = await submit(request, { type: "sleep", payload: { ms: 1500 } });
  await expect.poll(() => logCount(request, rerun)).toBeGreaterThan(0);
  expect((await request.post(`${nodeUrl(0)}api/tasks/${rerun}/cancel`)).status()).toBe(202);
  await expect.poll(() => status(request, rerun)).toBe("cancelled");
  expect((await request.post(`${nodeUrl(0)}api/tasks/${rerun}/retry`, { data: {} })).status()).toBe(202);

  const dead = [await submit(request, { type: "flaky", payload: { failures: 10 } }), await submit(request, { type: "flaky", payload: { failures: 10 } })];
  const long = await submit(request, { type: "echo", payload: { lines: Array.from({ length: 80 }, (_, i) => `line ${i + 1}`) } });
  for (const body of [{ type: "echo", payload: { hello: "a11y" } }, { type: "fail", payload: { message: "for the a11y check" } }, { type: "flaky", payload: { failures: 1 } }]) await submit(request, body);
  for (const [channel, message] of [
    ["ops", "Deploy of api 2.14 finished"],
    ["billing", "Invoice run for May queued"],
  ]) {
    expect((await request.post(`${nodeUrl(1)}api/broadcasts`, { data: { channel, message } })).status()).toBe(202);
  }
  // Enough for the feed to scroll: a scrolling region must be reachable by keyboard.
  for (let i = 1; i <= FEED_FILLER; i++) expect((await request.post(`${nodeUrl(1)}api/broadcasts`, { data: { channel: "ops", message: `Backup shard ${i} of ${FEED_FILLER} verified` } })).status()).toBe(202);
  // Running for every variant below (the afterAll cancels it): light and dark together have taken 160 s here.
  const running = await submit(request, { type: "sleep", payload: { ms: 600_000 } });
  await expect.poll(() => status(request, rerun), { timeout: 15_000 }).toBe("succeeded");
  for (const id of dead) await expect.poll(() => status(request, id), { timeout: 30_000 }).toBe("dead");
  await expect.poll(() => status(request, running)).toBe("running");
  await expect.poll(() => status(request, long)).toBe("succeeded");
  made = { dead, running, rerun, long };
  await request.dispose();
});

test.afterAll(async ({ playwright }) => {
  // Leave the worker free and the dead letters as they were for the specs that follow.
  const request = await playwright.request.newContext();
  await request.post(`${nodeUrl(0)}api/tasks/${made.running}/cancel`);
  await request.post(`${nodeUrl(0)}api/dead-letters/discard`, { data: { ids: made.dead } });
  await request.dispose();
});

/** A tab on the web node that requires sign-in, signed in as `user`, on `path`, once live. */
async function signedIn(page: Page, user: (typeof E2E_USERS)[keyof typeof E2E_USERS], path: string): Promise<void> {
  await page.goto(secure(path));
  await signIn(page, user);
  await live(page);
}

// Light and dark on a desktop, and a phone, where tables and boxes scroll sideways.
const VARIANTS = [
  { variant: "light", options: { colorScheme: "light" } },
  { variant: "dark", options: { colorScheme: "dark" } },
  { variant: "phone", options: { colorScheme: "light", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } },
] as const;

for (const { variant, options } of VARIANTS) {
  test.describe(variant, () => {
    test.use(options);

    test("the dashboard for an operator: running, finished and dead tasks, broadcasts, then a confirmation and a payload editor open", async ({ page }) => {
      await signedIn(page, E2E_USERS.operator, "/");
      for (const id of made.dead) await expect(entry(page, "Dead letters", id)).toBeVisible();
      await expect(entry(page, "Running tasks", made.running).getByRole("progressbar")).toBeVisible();
      await expect(entry(page, "Recent tasks", made.rerun)).toBeVisible();
      const feed = page.getByRole("log", { name: "Broadcast feed" });
      await expect(feed.getByText(`Backup shard ${FEED_FILLER} of ${FEED_FILLER} verified`, { exact: true }).first()).toBeVisible();
      expect(await feed.evaluate((el) => el.scrollHeight > el.clientHeight), "the feed scrolls").toBe(true);
      await expectNoSeriousViolations(page, `dashboard (${variant})`);

      // By keyboard, as someone without a mouse would.
      const deadLetters = page.getByRole("region", { name: "Dead letters" });
      const select = deadLetters.getByRole("checkbox", { name: `Select task ${made.dead[0].slice(0, 8)}` });
      await select.press("Space");
      await expect(select).toBeChecked();
      await deadLetters.getByRole("button", { name: "Retry all" }).press("Enter");
      await expect(deadLetters.getByRole("alertdialog")).toBeVisible();
      await deadLetters.getByRole("button", { name: `Edit payload of task ${made.dead[1].slice(0, 8)}` }).press("Enter");
      await expect(deadLetters.getByRole("textbox")).toBeVisible();
      await expectNoSeriousViolations(page, `dashboard with a confirmation and a payload editor open (${variant})`);
    });

    test("the dashboard for a viewer", async ({ page }) => {
      await signedIn(page, E2E_USERS.viewer, "/");
      for (const id of made.dead) await expect(entry(page, "Dead letters", id)).toBeVisible();
      await expectNoSeriousViolations(page, `dashboard for a viewer (${variant})`);
    });

    test("the tasks page, with tasks and a filter", async ({ page }) => {
      await signedIn(page, E2E_USERS.operator, "/tasks");
      const rows = page.getByRole("table", { name: "Tasks" }).locator("tbody tr");
      await expect(rows.filter({ hasText: made.rerun.slice(0, 8) })).toBeVisible();
      await expectNoSeriousViolations(page, `tasks (${variant})`);
      await page.getByLabel("Type", { exact: true }).fill("flaky");
      await expect(page).toHaveURL(/type=flaky/);
      await expect(rows.filter({ hasText: made.dead[0].slice(0, 8) })).toBeVisible();
      await expectNoSeriousViolations(page, `tasks filtered by type (${variant})`);
    });

    test("a task's page: two runs with their attempts and log lines", async ({ page }) => {
      await signedIn(page, E2E_USERS.operator, `/tasks/${made.rerun}`);
      await expect(page.getByRole("table", { name: "Attempts" }).locator("tbody tr")).toHaveCount(2);
      const logs = page.getByRole("region", { name: "Logs" });
      for (const group of ["Attempt 1", "Run 2, attempt 1"]) await expect(logs.getByRole("list", { name: `${group} log lines` }).getByRole("listitem").first()).toBeVisible();
      await expect(page.getByRole("region", { name: "Payload" }).locator("pre"), "a box that fits is no Tab stop").not.toHaveAttribute("tabindex");
      await expectNoSeriousViolations(page, `task page (${variant})`);
    });

    test("a task's page with a payload and a result long enough to scroll", async ({ page }) => {
      await signedIn(page, E2E_USERS.operator, `/tasks/${made.long}`);
      for (const section of ["Payload", "Result"]) {
        const box = page.getByRole("region", { name: section }).locator("pre");
        await expect(box).toContainText("line 80");
        expect(await box.evaluate((el) => el.scrollHeight > el.clientHeight), `the ${section.toLowerCase()} scrolls`).toBe(true);
        await expect(box, "a box that scrolls is a Tab stop").toHaveAttribute("tabindex", "0");
      }
      await expectNoSeriousViolations(page, `task page with long JSON (${variant})`);
    });

    test("a dead task's page with its payload editor open", async ({ page }) => {
      const shortId = made.dead[0].slice(0, 8);
      await signedIn(page, E2E_USERS.operator, `/tasks/${made.dead[0]}`);
      await expect(page.getByRole("table", { name: "Attempts" }).locator("tbody tr")).toHaveCount(4);
      await page.getByRole("button", { name: `Edit payload of task ${shortId}` }).click();
      await expect(page.getByRole("textbox")).toBeVisible();
      await expectNoSeriousViolations(page, `dead task page with its payload editor (${variant})`);
    });

    test("the insights page with its charts, workers and web nodes", async ({ page }) => {
      await signedIn(page, E2E_USERS.operator, "/insights");
      await expect(page.getByRole("figure", { name: "Tasks finished per second" }).locator("canvas")).toHaveCount(1);
      await expect(page.getByRole("table", { name: "Workers" }).getByRole("cell", { name: "live", exact: true }).first()).toBeVisible();
      await expectNoSeriousViolations(page, `insights (${variant})`);
    });

    test("the audit log with entries", async ({ page }) => {
      await signedIn(page, E2E_USERS.operator, "/audit");
      await expect(page.getByRole("table", { name: "Audit log" }).locator("tbody tr").first()).toBeVisible();
      await expectNoSeriousViolations(page, `audit (${variant})`);
    });

    test("the sign-in page, empty and after a refused sign-in, and on a node without users", async ({ page }) => {
      await page.goto(secure("/login"));
      await expect(page.getByRole("button", { name: "Sign in" })).toBeEnabled();
      await expectNoSeriousViolations(page, `sign-in (${variant})`);
      // An unknown name: refused without counting against a real user's failures.
      await page.getByLabel("Username").fill("nobody-a11y");
      await page.getByLabel("Password").fill("not a password");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect(page.getByRole("alert").filter({ hasText: /wrong|unknown|incorrect/i })).toBeVisible();
      await expectNoSeriousViolations(page, `sign-in after a refusal (${variant})`);
      await page.goto(`${nodeUrl(0)}login`);
      await expect(page.getByRole("link", { name: "Go to the dashboard" })).toBeVisible();
      await expectNoSeriousViolations(page, `sign-in without users (${variant})`);
    });

    test("an unknown task's page and an unknown address", async ({ page }) => {
      await signedIn(page, E2E_USERS.operator, "/tasks/no-such-task");
      await expect(page.getByRole("alert").filter({ hasText: "No task with id" })).toBeVisible();
      await expectNoSeriousViolations(page, `unknown task (${variant})`);
      expect((await page.goto(secure("/no-such-page")))?.status()).toBe(404);
      await expectNoSeriousViolations(page, `404 page (${variant})`);
    });
  });
}
