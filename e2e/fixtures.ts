// The specs' `test`: every browser context a test opens on the shared browser (openTab's, a spec's own) is
// closed when the test ends, pass or fail. A context left open keeps its tabs live, and on 2 cores a dozen
// live dashboards re-rendering every update slow every test after them.
import { test as base } from "@playwright/test";

export { expect } from "@playwright/test";

export const test = base.extend<{ closeOpenedContexts: void }>({
  closeOpenedContexts: [
    async ({ browser }, use) => {
      const before = new Set(browser.contexts());
      await use();
      await Promise.all(browser.contexts().filter((context) => !before.has(context)).map((context) => context.close()));
    },
    { auto: true },
  ],
});
