// The accessibility check any spec can run on the page it has open: axe-core's WCAG 2.0 and 2.1 A and AA rules.
import { AxeBuilder } from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";

/** A violation as axe-core reports it (axe-core itself comes with @axe-core/playwright). */
type Violation = Awaited<ReturnType<AxeBuilder["analyze"]>>["violations"][number];

/** The rule sets checked: WCAG 2.0 and 2.1, levels A and AA. */
export const A11Y_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
/** Violations of these impacts fail the check; "minor" and "moderate" ones do not. */
const FAILING_IMPACTS: ReadonlySet<string> = new Set(["serious", "critical"]);

/** One violation as a readable block: its rule id, impact, help text and link, then the selector and start of each element. */
export function describeViolation(v: Violation): string {
  const targets = v.nodes.map((node) => `    ${node.target.join(" >> ")}: ${clip(node.html)}`);
  return [`${v.id} (${v.impact}): ${v.help} (${v.helpUrl})`, `  ${v.nodes.length} element(s):`, ...targets].join("\n");
}

const clip = (html: string) => (html.length > 160 ? `${html.slice(0, 160)}…` : html);

/**
 * Runs axe-core on the page as it is now (open what should be checked first: dialogs, editors, filled lists) and fails
 * on any serious or critical violation, naming each with its help and the elements it found. `label` names the page
 * and state in the failure.
 */
export async function expectNoSeriousViolations(page: Page, label: string): Promise<void> {
  const { violations } = await new AxeBuilder({ page }).withTags(A11Y_TAGS).analyze();
  const failing = violations.filter((v) => v.impact && FAILING_IMPACTS.has(v.impact));
  expect(failing.map((v) => v.id), `${label}: serious or critical accessibility violations\n${failing.map(describeViolation).join("\n")}`).toEqual([]);
}
