// Broadcast channels, catch-up after a lost connection, and presence, in tabs on both web nodes.
import type { Browser, Page, WebSocketRoute } from "@playwright/test";
import { expect, test } from "./fixtures";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { loadConfig } from "../server/config";
import { E2E_PORTS, e2eEnv } from "./env";

const config = loadConfig(e2eEnv(process.env.TASKCAST_E2E_RUN!));
const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;
const GAP_NOTICE = "Some broadcasts were missed while this tab was disconnected: more than the history keeps.";

// A test's tabs are closed after it (e2e/fixtures.ts), so presence counts only what the running test opened.
async function openTab(browser: Browser, node: 0 | 1, beforeLoad?: (page: Page) => Promise<void>): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await beforeLoad?.(page);
  await page.goto(nodeUrl(node));
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  return page;
}

/** Publishes on the broadcast channel the way an outside service would; several messages go in one pipeline. */
function redisCliPublish(...messages: string[]): void {
  const commands = messages.map((m) => `PUBLISH ${config.BROADCAST_CHANNEL} ${JSON.stringify(m)}\n`).join("");
  execFileSync("redis-cli", ["-u", config.REDIS_URL], { input: commands, stdio: ["pipe", "ignore", "inherit"] });
}

const feed = (page: Page) => page.getByRole("log", { name: "Broadcast feed" });
const followGroup = (page: Page) => page.getByRole("group", { name: "Follow channels" });
const presence = (page: Page) => page.getByRole("region", { name: "Presence" });
const unique = (what: string) => `${what} ${randomUUID().slice(0, 8)}`;

async function sendBroadcast(page: Page, channel: string, message: string): Promise<void> {
  await page.getByRole("combobox", { name: "Channel", exact: true }).fill(channel);
  await page.getByRole("textbox", { name: "Broadcast message" }).fill(message);
  await page.getByRole("button", { name: "Send broadcast" }).click();
  // Cleared once the server acknowledged it, that is once it has its id and went out.
  await expect(page.getByRole("textbox", { name: "Broadcast message" })).toHaveValue("");
}

/** Follows only `channel`: clears "All channels", then types the channel in. */
async function followOnly(page: Page, channel: string): Promise<void> {
  const group = followGroup(page);
  await group.getByRole("checkbox", { name: "All channels" }).uncheck();
  await group.getByRole("textbox", { name: "Channel to follow" }).fill(channel);
  await group.getByRole("button", { name: "Follow channel" }).click();
  await expect(group.getByRole("checkbox", { name: channel, exact: true })).toBeChecked();
  await expect(group.getByRole("checkbox", { name: "general", exact: true })).not.toBeChecked();
  // The server has answered: from now on it sends this tab only that channel.
  await expect(group).toHaveAttribute("aria-busy", "false");
}

async function presenceTotal(page: Page): Promise<number> {
  const text = (await presence(page).textContent()) ?? "";
  return Number(text.match(/(\d+) tabs? connected/)?.[1] ?? NaN);
}

test("a tab following only ops gets ops broadcasts from tabs and redis once each, and never general ones", async ({ browser }) => {
  const opsTab = await openTab(browser, 0);
  const allTab = await openTab(browser, 1);
  await followOnly(opsTab, "ops");
  await expect(followGroup(allTab).getByRole("checkbox", { name: "All channels" })).toBeChecked();

  const onOps = unique("deploy starting");
  const onGeneral = unique("lunch is served");
  const fromRedis = unique("pager from redis");
  await sendBroadcast(allTab, "ops", onOps);
  await sendBroadcast(allTab, "general", onGeneral);
  redisCliPublish(JSON.stringify({ message: fromRedis, channel: "ops" }));
  await expect(feed(allTab).getByText(fromRedis, { exact: true })).toHaveCount(1);
  // Sent after everything above had its id, so it is delivered after all of it.
  const sentinel = unique("ops sentinel");
  await sendBroadcast(allTab, "ops", sentinel);

  for (const tab of [opsTab, allTab]) {
    await expect(feed(tab).getByText(sentinel, { exact: true })).toHaveCount(1);
    await expect(feed(tab).getByText(onOps, { exact: true })).toHaveCount(1);
    await expect(feed(tab).getByText(fromRedis, { exact: true })).toHaveCount(1);
  }
  await expect(feed(allTab).getByText(onGeneral, { exact: true })).toHaveCount(1);
  await expect(feed(opsTab).getByText(onGeneral, { exact: true })).toHaveCount(0);
  // Each item names its channel.
  await expect(feed(allTab).getByRole("listitem").filter({ hasText: onGeneral })).toContainText("general");
  await expect(feed(opsTab).getByRole("listitem").filter({ hasText: onOps })).toContainText("ops");

  // Following all again brings the general one back from the history.
  await followGroup(opsTab).getByRole("checkbox", { name: "All channels" }).check();
  await expect(feed(opsTab).getByText(onGeneral, { exact: true })).toHaveCount(1);
  await expect(feed(opsTab).getByText(onOps, { exact: true })).toHaveCount(1);
});

test("presence shows the tabs connected on both web nodes, and drops when one closes", async ({ browser, request }) => {
  const tabs = [await openTab(browser, 0), await openTab(browser, 1)];
  const apiTotal = async (node: 0 | 1) => ((await (await request.get(`${nodeUrl(node)}api/presence`)).json()) as { total: number }).total;
  for (const tab of tabs) {
    await expect.poll(() => presenceTotal(tab), { message: "total in the tab" }).toBeGreaterThanOrEqual(2);
    for (const port of E2E_PORTS) await expect(presence(tab)).toContainText(new RegExp(`:${port}: [1-9]\\d*`));
  }
  // Both nodes and both tabs agree, so the count no longer moves on its own.
  let before = 0;
  await expect
    .poll(async () => {
      const seen = [await presenceTotal(tabs[0]), await presenceTotal(tabs[1]), await apiTotal(0), await apiTotal(1)];
      before = seen[0];
      return seen.every((n) => n === seen[0]);
    })
    .toBe(true);

  await tabs[1].context().close();
  await expect.poll(() => presenceTotal(tabs[0]), { message: "total after a tab closed" }).toBe(before - 1);
});

test("the channel list offers a channel another tab just used", async ({ browser }) => {
  const watcher = await openTab(browser, 0);
  const sender = await openTab(browser, 1);
  const channel = `deploys-${randomUUID().slice(0, 8)}`;
  await expect(followGroup(watcher).getByRole("checkbox", { name: channel, exact: true })).toHaveCount(0);

  await sendBroadcast(sender, channel, unique("first on a new channel"));
  // Followed already (the tab follows all), and offered for sending too.
  await expect(followGroup(watcher).getByRole("checkbox", { name: channel, exact: true })).toBeChecked();
  await expect(watcher.locator(`datalist#broadcast-channel-suggestions > option[value="${channel}"]`)).toHaveCount(1);
});

/** Lets the test cut the tab's socket and keep it from reconnecting until `restore()`. */
async function cuttableSocket(page: Page) {
  let cut = false;
  const open: Array<[WebSocketRoute, WebSocketRoute]> = [];
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    if (cut) {
      // Opens the Engine.IO session and drops it at once, as a failing server would: the client backs off and
      // tries again. (A bare close before the open packet leaves socket.io-client waiting for its 20 s timeout.)
      ws.send(`0${JSON.stringify({ sid: "cut", upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1e6 })}`);
      return void ws.close();
    }
    open.push([ws, ws.connectToServer()]);
  });
  await page.route(/\/socket\.io\/.*transport=polling/, (route) => (cut ? route.abort() : route.continue()));
  return {
    async cut() {
      cut = true;
      // Both ends, so the server sees the tab go as well.
      for (const [toPage, toServer] of open.splice(0)) await Promise.all([toPage.close(), toServer.close()]);
      await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Reconnecting…");
      await expect(page.getByRole("alert", { name: "Service status" })).toContainText("Reconnecting to Taskcast");
    },
    async restore() {
      cut = false;
      await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live", { timeout: 20_000 });
      await expect(page.getByRole("alert", { name: "Service status" })).toHaveCount(0);
    },
  };
}

test("a tab that lost its connection catches up on what it missed, in order and once, in its channels only", async ({ browser }) => {
  let socket!: Awaited<ReturnType<typeof cuttableSocket>>;
  const tab = await openTab(browser, 0, async (page) => {
    socket = await cuttableSocket(page);
  });
  const sender = await openTab(browser, 1);
  await followOnly(tab, "ops");
  const before = unique("before the cut");
  await sendBroadcast(sender, "ops", before);
  await expect(feed(tab).getByText(before, { exact: true })).toHaveCount(1);

  await socket.cut();
  const missed = [unique("missed one"), unique("missed two"), unique("missed three")];
  const otherChannel = unique("missed on general");
  for (const message of missed) await sendBroadcast(sender, "ops", message);
  await sendBroadcast(sender, "general", otherChannel);
  await socket.restore();

  const sentinel = unique("after the reconnection");
  await sendBroadcast(sender, "ops", sentinel);
  await expect(feed(tab).getByText(sentinel, { exact: true })).toHaveCount(1);
  // Newest first: the sentinel, then the missed ones in reverse order of sending, then the one from before.
  const items = feed(tab).getByRole("listitem");
  const expected = [sentinel, ...[...missed].reverse(), before];
  for (const [i, message] of expected.entries()) await expect(items.nth(i)).toContainText(message);
  for (const message of expected) await expect(feed(tab).getByText(message, { exact: true })).toHaveCount(1);
  await expect(feed(tab).getByText(otherChannel, { exact: true })).toHaveCount(0);
  await expect(tab.getByRole("alert").filter({ hasText: GAP_NOTICE })).toHaveCount(0);
});

test("a tab that missed more broadcasts than the history keeps says so", async ({ browser }) => {
  let socket!: Awaited<ReturnType<typeof cuttableSocket>>;
  const tab = await openTab(browser, 0, async (page) => {
    socket = await cuttableSocket(page);
  });
  const watcher = await openTab(browser, 1);
  await socket.cut();
  const last = unique("the newest of many");
  redisCliPublish(...Array.from({ length: config.BROADCAST_HISTORY + 10 }, (_, i) => `flood ${i}`), last);
  await expect(feed(watcher).getByText(last, { exact: true })).toHaveCount(1, { timeout: 30_000 });
  await socket.restore();

  const notice = tab.getByRole("alert").filter({ hasText: GAP_NOTICE });
  await expect(notice).toBeVisible();
  await expect(feed(tab).getByText(last, { exact: true })).toHaveCount(1);
  await notice.getByRole("button", { name: "Dismiss" }).click();
  await expect(notice).toHaveCount(0);
});
