// A storm of tasks published straight to RabbitMQ while a dashboard tab is open: the tab stays responsive,
// renders its task lists at most about ten times a second, keeps its lists and heap capped, and agrees with
// the API once the storm is over.
import type { Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { connect } from "amqplib";
import { randomUUID } from "node:crypto";
import type { QueueStats, TaskRecord } from "../lib/contract";
import { MAX_TASKS_IN_TAB } from "../lib/live-state";
import { loadConfig } from "../server/config";
import { E2E_PORTS, e2eEnv } from "./env";

const config = loadConfig(e2eEnv(process.env.TASKCAST_E2E_RUN!));
const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;

/** Tasks published per second, and for how long. */
const RATE = 400;
const DURATION_MS = 12_000;
/** Bounds loose enough for a busy 2-core machine, tight enough to fail without coalescing. */
// Loose on purpose: CI shares 2 cores with RabbitMQ, Redis, two web nodes and a worker under the storm, and
// single long tasks up to ~1.4 s were seen from load alone. The render-rate bound is what catches lost coalescing.
const MAX_LONG_TASK_MS = 2000;
const MAX_LONG_TASK_SHARE = 0.5;
const MAX_LIST_RENDERS_PER_SECOND = 12;
const MAX_HEAP_GROWTH_MB = 25;
const RECENT_SHOWN = 30;

interface Probe {
  longTasks: Array<{ start: number; duration: number }>;
  frameGaps: number[];
  maxFrameGap: number;
  frames: number;
  renders: { recent: number[]; main: number[] };
  maxRows: number;
}

/** Installed before any page script: long tasks and frame gaps from the first paint on. */
function installProbe() {
  const probe: Probe = { longTasks: [], frameGaps: [], maxFrameGap: 0, frames: 0, renders: { recent: [], main: [] }, maxRows: 0 };
  (window as unknown as { __probe: Probe }).__probe = probe;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask", buffered: true });
  let last = performance.now();
  const frame = (now: number) => {
    const gap = now - last;
    last = now;
    probe.frames++;
    if (gap > probe.maxFrameGap) probe.maxFrameGap = gap;
    if (gap > 50) probe.frameGaps.push(gap);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

/** One MutationObserver callback is one commit that changed the section's DOM. */
function watchRenders() {
  const probe = (window as unknown as { __probe: Probe }).__probe;
  const recent = document.getElementById("recent-heading")!.closest("section")!;
  const main = document.querySelector("main")!;
  const opts: MutationObserverInit = { subtree: true, childList: true, characterData: true, attributes: true };
  new MutationObserver(() => {
    probe.renders.recent.push(performance.now());
    probe.maxRows = Math.max(probe.maxRows, recent.querySelectorAll("li").length);
  }).observe(recent, opts);
  new MutationObserver(() => probe.renders.main.push(performance.now())).observe(main, opts);
}

/** The most timestamps within any one second. */
function peakPerSecond(times: number[], from: number, to: number): number {
  const inside = times.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < inside.length; i++) {
    while (inside[i] - inside[j] >= 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

async function queueStats(page: Page): Promise<QueueStats> {
  return (await (await page.request.get(`${nodeUrl(0)}api/queue`)).json()) as QueueStats;
}

// A storm cut short would leave thousands of messages ahead of the next tests' tasks: drop them.
test.afterEach(async ({ request: _request }, testInfo) => {
  if (testInfo.status === testInfo.expectedStatus) return;
  const conn = await connect(config.RABBITMQ_URL);
  const ch = await conn.createChannel();
  await ch.purgeQueue(config.TASK_QUEUE);
  await conn.close();
});

test("a tab stays responsive through a storm of several hundred tasks a second and agrees with the API afterwards", async ({ browser }) => {
  test.setTimeout(180_000);
  // Tabs earlier tests left open would take the storm too and compete with this tab for the CPU: close them.
  const otherContexts = browser.contexts().length;
  for (const leftover of browser.contexts()) await leftover.close();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(installProbe);
  const page = await context.newPage();
  // Count the task events the tab receives, to know the load it was under.
  let taskEvents = 0;
  page.on("websocket", (ws) => ws.on("framereceived", ({ payload }) => typeof payload === "string" && payload.startsWith('42["task:update"') && taskEvents++));
  await page.goto(nodeUrl(0));
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  await expect(page.getByRole("region", { name: "Recent tasks" })).toBeVisible();
  await page.evaluate(watchRenders);
  // The insights page on the other web node, under the same storm.
  const insights = await context.newPage();
  await insights.goto(`${nodeUrl(1)}insights`);
  await expect(insights.getByRole("status", { name: "Connection" })).toHaveText("Live");
  await expect(insights.getByRole("figure", { name: "Tasks finished per second" }).locator("canvas")).toHaveCount(1);

  const cdp = await context.newCDPSession(page);
  const heapMb = async () => {
    await cdp.send("HeapProfiler.collectGarbage");
    return (await cdp.send("Runtime.getHeapUsage")).usedSize / 2 ** 20;
  };
  const heapBefore = await heapMb();

  // The storm: persistent messages straight to the work queue, as an outside service would publish them.
  const conn = await connect(config.RABBITMQ_URL);
  const ch = await conn.createConfirmChannel();
  const ids: string[] = [];
  const marker = `storm-${randomUUID().slice(0, 8)}`;
  const t0 = await page.evaluate(() => performance.now());
  const started = Date.now();
  let peakReady = 0;
  while (Date.now() - started < DURATION_MS) {
    const due = Math.floor(((Date.now() - started) / 1000) * RATE);
    while (ids.length < due) {
      const id = randomUUID();
      ids.push(id);
      ch.sendToQueue(config.TASK_QUEUE, Buffer.from(JSON.stringify({ type: "echo", payload: { marker, i: ids.length }, id })), { persistent: true, messageId: id });
    }
    await ch.waitForConfirms();
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const publishMs = Date.now() - started;
  const t1 = await page.evaluate(() => performance.now());
  await conn.close();
  const eventsDuringPublish = taskEvents;

  // The storm ends when the worker has drained the queue and the last task is recorded.
  await expect
    .poll(
      async () => {
        // A busy web node may drop a request now and then; the next poll asks again.
        const stats = await queueStats(page).catch(() => undefined);
        if (!stats) return Number.NaN;
        peakReady = Math.max(peakReady, stats.ready);
        return stats.ready + stats.unacked;
      },
      { message: "the queue drains", timeout: 150_000, intervals: [500] },
    )
    .toBe(0);
  const last = ids[ids.length - 1];
  await expect
    .poll(async () => ((await (await page.request.get(`${nodeUrl(0)}api/tasks/${last}`)).json()) as TaskRecord).status, { timeout: 30_000 })
    .toBe("succeeded");
  const drainMs = Date.now() - started;
  const t2 = await page.evaluate(() => performance.now());

  // After the storm the tab shows what the API says: queue numbers, and each task it lists.
  const queue = page.getByRole("region", { name: "Queue" });
  await expect
    .poll(async () => {
      const api = await queueStats(page);
      const shown = await Promise.all(["ready", "unacked", "consumers", "dead"].map((k) => queue.getByTestId(`queue-${k}`).textContent()));
      return shown.join(" ") === [api.ready, api.unacked, api.consumers, api.dead].join(" ") ? "equal" : `tab ${shown.join(" ")}, API ${JSON.stringify(api)}`;
    }, { message: "the Queue panel equals GET /api/queue" })
    .toBe("equal");
  await expect(queue.getByTestId("queue-consumers")).toHaveText("1");
  await expect(page.getByRole("region", { name: "Running tasks" }).getByText("Nothing is running.")).toBeVisible();
  const recentItems = page.getByRole("region", { name: "Recent tasks" }).getByRole("listitem");
  // The newest tasks are the storm's last ones, all succeeded once the events of the end have been flushed.
  await expect.poll(async () => (await recentItems.locator(".status").allTextContents()).every((s) => s === "succeeded") && (await recentItems.count()) === RECENT_SHOWN).toBe(true);
  const shownTasks = await recentItems.evaluateAll((items) =>
    items.map((li) => ({ id: li.querySelector("a.task-link")!.getAttribute("title")!, status: li.querySelector(".status")!.textContent! })),
  );
  expect(shownTasks).toHaveLength(RECENT_SHOWN);
  const published = new Set(ids);
  expect(shownTasks.filter((t) => published.has(t.id)).length, "the tab lists the storm's newest tasks").toBe(RECENT_SHOWN);
  for (const shown of shownTasks) {
    const record = (await (await page.request.get(`${nodeUrl(0)}api/tasks/${shown.id}`)).json()) as TaskRecord;
    expect(record.status, `task ${shown.id}`).toBe(shown.status);
  }
  // And a sample of the rest of the storm is recorded as succeeded.
  for (let i = 0; i < ids.length; i += Math.floor(ids.length / 20)) {
    const record = (await (await page.request.get(`${nodeUrl(0)}api/tasks/${ids[i]}`)).json()) as TaskRecord;
    expect(record.status, `task ${ids[i]}`).toBe("succeeded");
  }

  const heapAfter = await heapMb();
  // The tab's task records live in one Map: the largest Map in the page is its size.
  const { result: mapProto } = await cdp.send("Runtime.evaluate", { expression: "Map.prototype" });
  const { objects: maps } = await cdp.send("Runtime.queryObjects", { prototypeObjectId: mapProto.objectId! });
  const largestMap = await cdp.send("Runtime.callFunctionOn", { objectId: maps.objectId!, functionDeclaration: "function () { return Math.max(0, ...this.map((m) => m.size)); }", returnByValue: true });
  const insightsProbe = await insights.evaluate(() => (window as unknown as { __probe: Probe }).__probe);
  const insightsT2 = await insights.evaluate(() => performance.now());
  const insightsLong = insightsProbe.longTasks.filter((l) => l.start >= insightsT2 - drainMs);
  const probe = await page.evaluate(() => (window as unknown as { __probe: Probe }).__probe);
  const during = (from: number, to: number) => {
    const longTasks = probe.longTasks.filter((l) => l.start >= from && l.start <= to);
    const total = longTasks.reduce((sum, l) => sum + l.duration, 0);
    return { longTasks: longTasks.length, longestMs: Math.round(Math.max(0, ...longTasks.map((l) => l.duration))), share: total / (to - from) };
  };
  const storm = during(t0, t2);
  const figures = {
    otherContexts,
    published: ids.length,
    publishSeconds: +(publishMs / 1000).toFixed(1),
    publishRatePerSecond: Math.round(ids.length / (publishMs / 1000)),
    drainSeconds: +(drainMs / 1000).toFixed(1),
    processedPerSecond: Math.round(ids.length / (drainMs / 1000)),
    peakReady,
    taskEventsReceived: taskEvents,
    taskEventsPerSecondWhilePublishing: Math.round(eventsDuringPublish / (publishMs / 1000)),
    taskEventsPerSecondOverall: Math.round(taskEvents / (drainMs / 1000)),
    longTasks: storm.longTasks,
    longestLongTaskMs: storm.longestMs,
    longTaskSharePercent: +(storm.share * 100).toFixed(1),
    longTaskSharePercentWhilePublishing: +(during(t0, t1).share * 100).toFixed(1),
    maxFrameGapMs: Math.round(probe.maxFrameGap),
    frameGapsOver50ms: probe.frameGaps.length,
    recentListRendersPeakPerSecond: peakPerSecond(probe.renders.recent, t0, t2),
    recentListRendersAveragePerSecond: +(probe.renders.recent.filter((t) => t >= t0 && t <= t2).length / ((t2 - t0) / 1000)).toFixed(1),
    mainRendersPeakPerSecond: peakPerSecond(probe.renders.main, t0, t2),
    maxRecentRows: probe.maxRows,
    heapBeforeMb: +heapBefore.toFixed(1),
    heapAfterMb: +heapAfter.toFixed(1),
    largestMapEntries: largestMap.result.value as number,
    domNodes: await page.evaluate(() => document.getElementsByTagName("*").length),
    insightsLongTasks: insightsLong.length,
    insightsLongestLongTaskMs: Math.round(Math.max(0, ...insightsLong.map((l) => l.duration))),
    insightsLongTaskSharePercent: +((insightsLong.reduce((sum, l) => sum + l.duration, 0) / drainMs) * 100).toFixed(1),
    insightsMaxFrameGapMs: Math.round(insightsProbe.maxFrameGap),
  };
  console.log(`storm figures: ${JSON.stringify(figures, null, 2)}`);
  for (const [type, value] of Object.entries(figures)) test.info().annotations.push({ type, description: String(value) });

  // Soft, so that a regression shows every bound it breaks at once.
  expect.soft(figures.publishRatePerSecond, "the storm reached several hundred tasks a second").toBeGreaterThanOrEqual(RATE * 0.5);
  expect.soft(figures.longestLongTaskMs, "no long task over 2 s").toBeLessThanOrEqual(MAX_LONG_TASK_MS);
  expect.soft(storm.share, "long tasks take under half of the storm").toBeLessThan(MAX_LONG_TASK_SHARE);
  expect.soft(figures.recentListRendersPeakPerSecond, "the Recent tasks list renders at most about 10 times a second").toBeLessThanOrEqual(MAX_LIST_RENDERS_PER_SECOND);
  expect.soft(figures.maxRecentRows, "the Recent tasks list stays capped").toBeLessThanOrEqual(RECENT_SHOWN);
  expect.soft(figures.largestMapEntries, "the tab keeps at most MAX_TASKS_IN_TAB task records").toBeLessThanOrEqual(MAX_TASKS_IN_TAB);
  expect.soft(heapAfter - heapBefore, "the heap does not grow with the number of tasks").toBeLessThan(MAX_HEAP_GROWTH_MB);
  expect.soft(figures.insightsLongestLongTaskMs, "the insights page has no long task over 2 s").toBeLessThanOrEqual(MAX_LONG_TASK_MS);
  await context.close();
});
