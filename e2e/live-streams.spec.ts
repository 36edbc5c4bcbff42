// Each page's socket follows only the live streams the page shows: stated in the handshake of a page opened
// directly, and changed with `streams:follow` when the tab moves to another page.
import type { Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { E2E_PORTS } from "./env";

const nodeUrl = `http://127.0.0.1:${E2E_PORTS[0]}/`;

/** The Socket.IO events the page receives, counted by name, and the handshakes (CONNECT packets' auth) it sends. */
function watchSocket(page: Page): { counts: Map<string, number>; handshakes: Array<{ streams?: string[] | null }> } {
  const counts = new Map<string, number>();
  const handshakes: Array<{ streams?: string[] | null }> = [];
  page.on("websocket", (ws) => {
    ws.on("framereceived", ({ payload }) => {
      const event = typeof payload === "string" ? /^42\["([^"]+)"/.exec(payload)?.[1] : undefined;
      if (event) counts.set(event, (counts.get(event) ?? 0) + 1);
    });
    ws.on("framesent", ({ payload }) => {
      if (typeof payload === "string" && payload.startsWith("40{")) handshakes.push(JSON.parse(payload.slice(2)) as { streams?: string[] | null });
    });
  });
  return { counts, handshakes };
}

const count = (counts: Map<string, number>, event: string) => counts.get(event) ?? 0;

async function submitEcho(page: Page): Promise<string> {
  const res = await page.request.post(`${nodeUrl}api/tasks`, { data: { type: "echo", payload: { streams: true } } });
  expect(res.status()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

test("a page opened directly states in its handshake the streams it shows, and no others", async ({ browser }) => {
  const expected: Record<string, string[]> = {
    "": ["tasks", "queues", "presence", "health", "channels"],
    tasks: ["tasks", "health"],
    insights: ["workers", "web-nodes", "stats", "health"],
    audit: ["health"],
  };
  for (const [path, streams] of Object.entries(expected)) {
    const page = await (await browser.newContext()).newPage();
    const socket = watchSocket(page);
    await page.goto(nodeUrl + path);
    await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
    expect(socket.handshakes.map((h) => h.streams), `/${path}`).toEqual([streams]);
    await page.context().close();
  }
});

test("the insights page gets no task updates; moving to the dashboard switches the tab's streams", async ({ browser }) => {
  const page = await (await browser.newContext()).newPage();
  const { counts } = watchSocket(page);
  await page.goto(`${nodeUrl}insights`);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  // A clock: another tab on the insights page, whose stats ticks mark the seconds.
  const clockPage = await (await browser.newContext()).newPage();
  const clock = watchSocket(clockPage).counts;
  await clockPage.goto(`${nodeUrl}insights`);
  await expect(clockPage.getByRole("status", { name: "Connection" })).toHaveText("Live");

  // Tasks run while the insights page receives a few seconds of its own streams.
  const id = await submitEcho(page);
  await expect.poll(async () => ((await (await page.request.get(`${nodeUrl}api/tasks/${id}`)).json()) as { status: string }).status).toBe("succeeded");
  await expect.poll(() => Math.min(count(counts, "stats:tick"), count(counts, "workers:update"), count(counts, "web-nodes:update")), { message: "three seconds of insights pushes" }).toBeGreaterThanOrEqual(3);
  for (const event of ["task:update", "queue:stats", "queues:stats", "presence", "broadcast:channels"]) expect(count(counts, event), event).toBe(0);

  // To the dashboard in the same tab (no reload): it shows tasks live, and the insights streams stop.
  await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "Dashboard" }).click();
  await expect(page.getByRole("region", { name: "Recent tasks" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Presence" })).toContainText("connected");
  const next = await submitEcho(page);
  await expect(page.getByRole("region", { name: "Recent tasks" })).toContainText(next.slice(0, 8));
  await expect.poll(() => count(counts, "task:update"), { message: "task updates on the dashboard" }).toBeGreaterThan(0);
  counts.clear();
  const ticks = count(clock, "stats:tick");
  await expect.poll(() => count(clock, "stats:tick"), { message: "three more seconds" }).toBeGreaterThanOrEqual(ticks + 3);
  for (const event of ["stats:tick", "workers:update", "web-nodes:update"]) expect(count(counts, event), event).toBe(0);
  await page.context().close();
  await clockPage.context().close();
});
