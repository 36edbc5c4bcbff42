// Dashboard tabs on the end-to-end web nodes.
import { expect, type Browser, type Page } from "@playwright/test";
import { E2E_PORTS } from "./env";

/** The dashboard's URL on web node 0 or 1. */
export const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;

/** A tab in a fresh browser context on web node `node`, once its live connection is up. */
export async function openTab(browser: Browser, node: 0 | 1): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(nodeUrl(node));
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  return page;
}
