// A real headless chromium tab on the dashboard while tasks pour through: how many task events it received, how
// often it rendered, and the worst lag from an event's arrival to the next render.
import { chromium, type Browser, type Page } from "@playwright/test";

export interface DashboardFigures {
  taskEvents: number;
  seconds: number;
  /** DOM commits of the page (MutationObserver callbacks), and the most in any one second. */
  renders: number;
  peakRendersPerSecond: number;
  /** From a task event's arrival to the next render, over the events of the run. */
  lagP99Ms: number;
  lagMaxMs: number;
  longTasks: number;
  longestTaskMs: number;
}

interface Probe {
  events: number[];
  renders: number[];
  longTasks: number[];
}

/** Runs in the page before its scripts: timestamps of task events (socket frames) and of DOM commits. */
function installProbe() {
  const probe: Probe = { events: [], renders: [], longTasks: [] };
  (window as unknown as { __bench: Probe }).__bench = probe;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener("message", (e: MessageEvent) => {
        if (typeof e.data === "string" && e.data.startsWith('42["task:update"')) probe.events.push(performance.now());
      });
    }
  };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) probe.longTasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver(() => probe.renders.push(performance.now())).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

export class DashboardTab {
  private constructor(
    private readonly browser: Browser,
    private readonly page: Page,
  ) {}

  static async open(url: string): Promise<DashboardTab> {
    const browser = await chromium.launch({ headless: true, executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(installProbe);
    const page = await context.newPage();
    await page.goto(url);
    await page.getByRole("status", { name: "Connection" }).filter({ hasText: "Live" }).waitFor({ timeout: 30_000 });
    return new DashboardTab(browser, page);
  }

  /** Forgets what happened so far: the figures cover what follows. */
  async start(): Promise<void> {
    await this.page.evaluate(() => {
      const probe = (window as unknown as { __bench: Probe }).__bench;
      probe.events.length = 0;
      probe.renders.length = 0;
      probe.longTasks.length = 0;
    });
  }

  async figures(): Promise<DashboardFigures> {
    // Let the last coalesced render land before reading.
    await this.page.waitForTimeout(500);
    const probe = await this.page.evaluate(() => (window as unknown as { __bench: Probe }).__bench);
    const { events, renders } = probe;
    const lags: number[] = [];
    let r = 0;
    for (const e of events) {
      while (r < renders.length && renders[r] < e) r++;
      if (r === renders.length) break; // nothing rendered after it: the run ended
      lags.push(renders[r] - e);
    }
    lags.sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0, j = 0; i < renders.length; i++) {
      while (renders[i] - renders[j] >= 1000) j++;
      peak = Math.max(peak, i - j + 1);
    }
    const span = events.length > 1 ? (events.at(-1)! - events[0]) / 1000 : 0;
    return {
      taskEvents: events.length,
      seconds: Math.round(span * 10) / 10,
      renders: renders.length,
      peakRendersPerSecond: peak,
      lagP99Ms: Math.round(lags[Math.max(0, Math.ceil(lags.length * 0.99) - 1)] ?? Number.NaN),
      lagMaxMs: Math.round(lags.at(-1) ?? Number.NaN),
      longTasks: probe.longTasks.length,
      longestTaskMs: Math.round(Math.max(0, ...probe.longTasks)),
    };
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}
