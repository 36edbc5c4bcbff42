// Sign-in, roles, sign-out, the audit log, the Content-Security-Policy and text-only rendering, in a browser
// against the web node that requires sign-in (and the open ones for what needs no session).
import type { APIRequestContext, Browser, Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { randomUUID } from "node:crypto";
import { E2E_PORTS, E2E_SECURE_PORT, E2E_USERS } from "./env";
import { signIn } from "./tabs";

const secure = (path: string) => `http://127.0.0.1:${E2E_SECURE_PORT}${path}`;
const open = (path: string) => `http://127.0.0.1:${E2E_PORTS[0]}${path}`;

async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  return context.newPage();
}

const live = (page: Page) => expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
const auditRows = (page: Page) => page.getByRole("table", { name: "Audit log" }).locator("tbody tr");

async function submitOpen(request: APIRequestContext, body: object): Promise<string> {
  const res = await request.post(open("/api/tasks"), { data: body });
  expect(res.status()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

test("without a session every page leads to the sign-in page, which refuses a wrong password and says why it cannot sign in", async ({ browser, request }) => {
  const page = await newPage(browser);
  await page.goto(secure("/"));
  await expect(page).toHaveURL(secure("/login?next=%2F"));
  await expect(page.getByRole("heading", { name: "Sign in to Taskcast" })).toBeVisible();
  await page.goto(secure("/tasks?status=dead"));
  await expect(page).toHaveURL(secure(`/login?next=${encodeURIComponent("/tasks?status=dead")}`));
  expect((await request.get(secure("/api/tasks"))).status()).toBe(401);

  await page.getByLabel("Username").fill(E2E_USERS.operator.name);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("form", { name: "Sign in" }).getByRole("alert");
  await expect(alert).toHaveText("Wrong username or password.");
  await expect(page).toHaveURL(/\/login\?next=/);
  await expect(page.getByLabel("Password")).toHaveValue("");

  // Too many attempts, and no answer at all, as the server or the network would make them.
  await page.route("**/api/auth/login", (route) =>
    route.fulfill({ status: 429, headers: { "Retry-After": "42" }, contentType: "application/json", body: JSON.stringify({ error: "Too many sign-in attempts" }) }),
  );
  await page.getByLabel("Password").fill("another guess");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(alert).toHaveText("Too many sign-in attempts. Wait 42 s and try again.");
  await page.unroute("**/api/auth/login");
  await page.route("**/api/auth/login", (route) => route.abort("connectionrefused"));
  await page.getByLabel("Password").fill("another guess");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(alert).toContainText("Taskcast did not answer");
  await expect(page).toHaveURL(/\/login\?next=/);
});

test("a next address that leaves the site is ignored after signing in", async ({ browser }) => {
  const page = await newPage(browser);
  await page.goto(secure(`/login?next=${encodeURIComponent("//example.com/phish")}`));
  await signIn(page, E2E_USERS.viewer);
  await expect(page).toHaveURL(secure("/"));
});

test("the operator signs in, lands on the page asked for, and their sign-in, task and broadcast show in the Audit log, live in another tab", async ({ browser }) => {
  const page = await newPage(browser);
  await page.goto(secure("/tasks"));
  await signIn(page, E2E_USERS.operator);
  await expect(page).toHaveURL(secure("/tasks"));
  await live(page);
  const header = page.getByRole("banner");
  await expect(header).toContainText("Signed in as alice operator");
  await expect(header.getByRole("button", { name: "Sign out" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Audit log" })).toBeVisible();

  // A second tab of the same browser, on the Audit log page before anything happens.
  const watcher = await page.context().newPage();
  await watcher.goto(secure("/"));
  await watcher.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Audit log" }).click();
  await expect(watcher).toHaveURL(secure("/audit"));
  await live(watcher);
  const signedIn = auditRows(watcher).filter({ hasText: "Signed in" }).filter({ hasText: "alice (operator)" });
  await expect(signedIn.first()).toBeVisible();

  await page.goto(secure("/"));
  await live(page);
  const marker = randomUUID().slice(0, 8);
  await page.getByLabel("Task type").selectOption("echo");
  await page.getByLabel("Payload").fill(JSON.stringify({ marker }));
  await page.getByRole("button", { name: "Submit task" }).click();
  const queued = page.getByText(/Queued echo task [0-9a-f]{8}\./);
  await expect(queued).toBeVisible();
  const shortId = (await queued.textContent())!.match(/task ([0-9a-f]{8})/)![1];
  // Broadcast text reaches the audit log too, and is text there as well.
  const message = `<img src=x onerror="window.__pwned=1"> audited ${marker}`;
  await page.getByLabel("Broadcast message").fill(message);
  await page.getByRole("button", { name: "Send broadcast" }).click();
  await expect(page.getByLabel("Broadcast message")).toHaveValue("");

  const submitted = auditRows(watcher).filter({ has: watcher.getByRole("link", { name: shortId, exact: true }) });
  await expect(submitted).toHaveCount(1);
  await expect(submitted).toContainText("Submitted a task");
  await expect(submitted).toContainText("alice (operator)");
  await expect(submitted).toContainText("type echo, priority 0");
  await expect(submitted).toContainText("via socket");
  const broadcast = auditRows(watcher).filter({ hasText: `audited ${marker}` });
  await expect(broadcast).toHaveCount(1);
  await expect(broadcast).toContainText("Broadcast");
  await expect(broadcast.getByRole("cell", { name: message })).toBeVisible();
  await expect(broadcast.locator("img")).toHaveCount(0);
  expect(await watcher.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

  // The filters: by action (live entries respect it), then by an actor nobody is.
  await watcher.getByLabel("Action").selectOption({ label: "Broadcast" });
  await expect(watcher).toHaveURL(/action=broadcast\.send/);
  await expect(broadcast).toHaveCount(1);
  await expect(submitted).toHaveCount(0);
  await expect(auditRows(watcher).filter({ hasNotText: "Broadcast" })).toHaveCount(0);
  await watcher.getByLabel("Actor").fill("nobody-at-all");
  await expect(auditRows(watcher)).toHaveText(["No entries match."]);
  await watcher.getByLabel("Actor").fill("alice");
  await expect(broadcast).toHaveCount(1);

  // A fresh load has them too, from the API; the task id leads to the task's page.
  const fresh = await page.context().newPage();
  await fresh.goto(secure("/audit?action=task.submit&actor=alice"));
  await expect(fresh.getByLabel("Action")).toHaveValue("task.submit");
  await fresh.getByRole("table", { name: "Audit log" }).getByRole("link", { name: shortId, exact: true }).click();
  await expect(fresh).toHaveURL(new RegExp(`/tasks/${shortId}[0-9a-f-]+$`));
  await expect(fresh.getByRole("region", { name: "Payload" })).toContainText(marker);
});

test("a viewer sees everything with the operator controls off, and the server refuses what the page would not send", async ({ browser, request }) => {
  const failed = await submitOpen(request, { type: "fail", payload: { message: `for the viewer ${randomUUID().slice(0, 6)}` } });
  const page = await newPage(browser);
  await page.goto(secure("/"));
  await signIn(page, E2E_USERS.viewer);
  await expect(page).toHaveURL(secure("/"));
  await live(page);
  await expect(page.getByRole("banner")).toContainText("Signed in as bob viewer");

  const note = "Your viewer role can watch but not change anything.";
  const form = page.getByRole("form", { name: "Submit a task" });
  await expect(form.getByText(note)).toBeVisible();
  await expect(form.getByRole("button", { name: "Submit task" })).toBeDisabled();
  await expect(page.getByLabel("Payload")).toBeDisabled();
  await expect(page.getByRole("region", { name: "Broadcasts" }).getByText(note)).toBeVisible();
  await expect(page.getByLabel("Broadcast message")).toBeDisabled();
  await expect(page.getByRole("button", { name: "Send broadcast" })).toBeDisabled();
  const recent = page.getByRole("region", { name: "Recent tasks" }).getByRole("listitem").filter({ hasText: failed.slice(0, 8) });
  await expect(recent.getByText("failed", { exact: true })).toBeVisible();
  await expect(recent.getByRole("button", { name: `Retry task ${failed.slice(0, 8)}` })).toBeDisabled();

  await page.goto(secure(`/tasks/${failed}`));
  await expect(page.getByRole("button", { name: `Retry task ${failed.slice(0, 8)}` })).toBeDisabled();
  await expect(page.getByRole("button", { name: `Edit payload of task ${failed.slice(0, 8)}` })).toBeDisabled();
  await expect(page.getByText(note)).toBeVisible();

  // Forced past the page: the API answers 403 with the reason.
  const forced = await page.evaluate(async () => {
    const res = await fetch("/api/tasks", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ type: "echo", payload: {} }) });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  });
  expect(forced.status).toBe(403);
  expect(forced.body.error).toContain("viewer");

  // Watching includes the audit log.
  await page.goto(secure("/audit"));
  await live(page);
  await expect(auditRows(page).filter({ hasText: "bob (viewer)" }).filter({ hasText: "Signed in" }).first()).toBeVisible();
});

test("signing out returns to the sign-in page, takes the other tabs of the session there, and the dashboard asks again", async ({ browser }) => {
  const page = await newPage(browser);
  await page.goto(secure("/"));
  await signIn(page, E2E_USERS.operator);
  await live(page);
  const other = await page.context().newPage();
  await other.goto(secure("/insights"));
  await live(other);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in to Taskcast" })).toBeVisible();
  // Its socket was ended by the server, so it finds out at once.
  await expect(other).toHaveURL(secure(`/login?next=${encodeURIComponent("/insights")}`));
  await page.goto(secure("/"));
  await expect(page).toHaveURL(secure("/login?next=%2F"));
  expect((await page.request.get(secure("/api/auth/session"))).ok()).toBe(true);
  expect(await (await page.request.get(secure("/api/auth/session"))).json()).toEqual({ authRequired: true, principal: null });
});

test("no page breaks its Content-Security-Policy", async ({ browser, request }) => {
  const id = await submitOpen(request, { type: "echo", payload: { csp: true } });
  const page = await newPage(browser);
  const problems: string[] = [];
  page.on("console", (msg) => {
    if (/Content[- ]Security[- ]Policy|Refused to/i.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`Content-Security-Policy violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });

  const visit = async (url: string, ready: () => Promise<void>) => {
    const res = await page.goto(url);
    expect(res?.headers()["content-security-policy"], url).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/);
    await ready();
  };
  await visit(secure("/login"), () => expect(page.getByRole("button", { name: "Sign in" })).toBeEnabled());
  await signIn(page, E2E_USERS.operator);
  for (const path of ["/", "/tasks", "/insights", "/audit", `/tasks/${id}`]) await visit(secure(path), () => live(page));
  await visit(open("/"), () => live(page));
  await visit(open("/login"), () => expect(page.getByRole("link", { name: "Go to the dashboard" })).toBeVisible());
  expect(problems).toEqual([]);
});

test("a task payload with HTML and script shows as text on the task's page, and nothing in it runs", async ({ browser, request }) => {
  const marker = randomUUID().slice(0, 8);
  const evil = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script> ${marker}`;
  const id = await submitOpen(request, { type: "echo", payload: { note: evil } });
  const page = await newPage(browser);
  await page.goto(open(`/tasks/${id}`));
  await live(page);
  const payload = page.getByRole("region", { name: "Payload" });
  await expect(payload).toContainText(JSON.stringify(evil));
  await expect(page.getByRole("region", { name: "Result" })).toContainText(marker);
  await expect(page.locator("main").locator("img, script")).toHaveCount(0);
  await page.goto(open(`/tasks?q=${marker}`));
  await expect(page.getByRole("table", { name: "Tasks" }).getByText(marker)).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
});
