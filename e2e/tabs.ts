// Dashboard tabs on the end-to-end web nodes.
import { expect, type Browser, type Page } from "@playwright/test";
import { E2E_PORTS, type E2E_USERS } from "./env";

/** The dashboard's URL on web node 0 or 1. */
export const nodeUrl = (i: 0 | 1) => `http://127.0.0.1:${E2E_PORTS[i]}/`;

/** A tab in a fresh browser context on web node `node`, once its live connection is up. */
export async function openTab(browser: Browser, node: 0 | 1): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(nodeUrl(node));
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  return page;
}

/** Fills the sign-in form the tab is on and waits to leave it. */
export async function signIn(page: Page, user: (typeof E2E_USERS)[keyof typeof E2E_USERS]): Promise<void> {
  await expect(page).toHaveURL(/\/login(\?|$)/);
  await page.getByLabel("Username").fill(user.name);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/\/login(\?|$)/);
}
