// Every relative link and image in README.md and docs/*.md points at a file that exists, and every
// #anchor at a heading of its target (GitHub's slugs). The README stays a short front door that links
// to every page in docs/.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const README_MAX_LINES = 220;

interface Link {
  target: string;
  line: number;
}

/** The lines of a Markdown file that are outside fenced code blocks (``` or ~~~), as [line number, text]. */
function proseLines(markdown: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  let fence: { char: string; length: number } | null = null;
  markdown.split("\n").forEach((text, i) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(text);
    if (fence) {
      if (marker && marker[1][0] === fence.char && marker[1].length >= fence.length && text.trim() === marker[1]) fence = null;
      return;
    }
    if (marker) {
      fence = { char: marker[1][0], length: marker[1].length };
      return;
    }
    out.push([i + 1, text]);
  });
  return out;
}

/** Inline code spans hold no links: `[a](b)` inside backticks is text. */
const withoutCodeSpans = (text: string) => text.replace(/(`+)(?:(?!\1)[^\n])*?\1/g, (span) => " ".repeat(span.length));

/** `[text](target "title")` or `![alt](target)`: text with one level of brackets; target bare (balanced parentheses) or in <>. */
const INLINE_LINK = /!?\[(?:[^[\]]|\[[^[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;

/** Links and images `[text](target)` and reference definitions `[id]: target`, outside code. */
function extractLinks(markdown: string): Link[] {
  const links: Link[] = [];
  for (const [line, raw] of proseLines(markdown)) {
    const text = withoutCodeSpans(raw);
    for (const m of text.matchAll(INLINE_LINK)) {
      links.push({ target: m[1].replace(/^<|>$/g, ""), line });
    }
    const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(text);
    if (definition) links.push({ target: definition[1].replace(/^<|>$/g, ""), line });
  }
  return links;
}

/** GitHub's heading slug: lowercase, punctuation dropped (hyphens, underscores and spaces kept), spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link or image in a heading counts by its text
    .replace(/<[^>]+>/g, "") // HTML tags
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** The anchors a Markdown file offers: its headings' slugs (repeats get -1, -2, ...) and explicit `<a id>` / `<a name>`. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$/.exec(text);
    if (heading) {
      // As github-slugger does it: a taken slug gets the next free -N of its base.
      const base = slug(heading[1] ?? "");
      let candidate = base;
      while (seen.has(candidate)) {
        seen.set(base, (seen.get(base) ?? 0) + 1);
        candidate = `${base}-${seen.get(base)}`;
      }
      seen.set(candidate, 0);
      out.add(candidate);
    }
    for (const m of text.matchAll(/<a\s+[^>]*?(?:id|name)="([^"]+)"/g)) out.add(m[1]);
  }
  return out;
}

const isExternal = (target: string) => /^(https?:|mailto:)/i.test(target);

/** What is wrong with the links of one Markdown file, as "file:line: target: reason" lines. */
function brokenLinks(file: string, root: string): string[] {
  const problems: string[] = [];
  const name = relative(root, file);
  for (const { target, line } of extractLinks(readFileSync(file, "utf8"))) {
    if (isExternal(target)) continue;
    const hash = target.indexOf("#");
    const pathPart = decodeURI(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
    const where = `${name}:${line}: ${target}`;
    if (pathPart.startsWith("/")) {
      problems.push(`${where}: use a path relative to ${name}, not one from the root`);
      continue;
    }
    const resolved = pathPart === "" ? file : resolve(dirname(file), pathPart);
    if (!existsSync(resolved)) {
      problems.push(`${where}: no such file ${relative(root, resolved)}`);
      continue;
    }
    if (anchor === null) continue;
    if (!resolved.endsWith(".md") || !statSync(resolved).isFile()) {
      problems.push(`${where}: an anchor into a file that is not Markdown`);
      continue;
    }
    if (!anchors(readFileSync(resolved, "utf8")).has(anchor)) problems.push(`${where}: no heading #${anchor} in ${relative(root, resolved)}`);
  }
  return problems;
}

/** README.md and every docs/*.md under a root. */
const markdownFiles = (root: string) => [
  join(root, "README.md"),
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => join(root, "docs", f)),
];

test("every relative link and image in README.md and docs/*.md resolves, anchors included", () => {
  const files = markdownFiles(ROOT);
  assert.ok(files.length > 1, "docs/ has Markdown pages");
  const problems = files.flatMap((f) => brokenLinks(f, ROOT));
  assert.deepEqual(problems, [], `broken links:\n${problems.join("\n")}`);
});

test("the README is a short front door that links to every docs page and keeps its security section", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const lines = readme.trimEnd().split("\n").length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; keep it at most ${README_MAX_LINES} and move reference text to docs/`);

  const linked = new Set(extractLinks(readme).filter((l) => !isExternal(l.target)).map((l) => resolve(ROOT, decodeURI(l.target.split("#")[0]))));
  for (const page of markdownFiles(ROOT).slice(1)) {
    assert.ok(linked.has(page), `README.md does not link to ${relative(ROOT, page)}`);
  }
  // Error messages in the code send people to "the README's security section".
  assert.ok(anchors(readme).has("security"), "README.md has a Security heading");
  assert.ok(linked.has(join(ROOT, "docs/security.md")));
  assert.ok(extractLinks(readme).some((l) => l.target.startsWith("docs/screenshots/")), "README.md shows a screenshot");
});

test("every docs page links back to the README", () => {
  for (const page of markdownFiles(ROOT).slice(1)) {
    const targets = extractLinks(readFileSync(page, "utf8")).map((l) => resolve(dirname(page), l.target.split("#")[0]));
    assert.ok(targets.includes(join(ROOT, "README.md")), `${relative(ROOT, page)} does not link back to the README`);
  }
});

test("headings get GitHub's slugs", () => {
  assert.equal(slug("Known limits (next issues)"), "known-limits-next-issues");
  assert.equal(slug("Metrics, logs and alerts"), "metrics-logs-and-alerts");
  assert.equal(slug("Socket.IO (default namespace)"), "socketio-default-namespace");
  assert.equal(slug("AMQP, for other services"), "amqp-for-other-services");
  assert.equal(slug("`TASK_QUEUE` and its dead-letter queue"), "task_queue-and-its-dead-letter-queue");
  assert.equal(slug("See [the API](api.md)"), "see-the-api");
  assert.deepEqual([...anchors("# A\n## B\n## B\n### B\n```\n# not a heading\n```\n## B 1\n")], ["a", "b", "b-1", "b-2", "b-1-1"]);
});

test("links in fenced code and code spans are ignored; titles and images are understood", () => {
  const md = [
    "See [one](a.md) and ![pic](img/p.png \"title\") and `[not](code.md)`.",
    "```md",
    "[inside](fence.md)",
    "```",
    "[web](https://example.com) [mail](mailto:a@example.com) [here](#top)",
    "[ref]: b.md#x",
  ].join("\n");
  assert.deepEqual(
    extractLinks(md).map((l) => l.target),
    ["a.md", "img/p.png", "https://example.com", "mailto:a@example.com", "#top", "b.md#x"],
  );
});

test("the checker reports a missing file, a missing anchor and a missing same-file anchor", () => {
  const root = mkdtempSync(join(tmpdir(), "taskcast-docs-links-"));
  try {
    mkdirSync(join(root, "docs"));
    writeFileSync(join(root, "README.md"), "# Top\n\n[ok](docs/a.md#part-one) [gone](docs/missing.md) [bad](docs/a.md#part-three) [self](#nowhere) [fine](#top)\n");
    writeFileSync(join(root, "docs", "a.md"), "# A\n\n## Part one\n\n[back](../README.md#top) ![shot](screenshots/none.png)\n");
    assert.deepEqual(brokenLinks(join(root, "README.md"), root), [
      "README.md:3: docs/missing.md: no such file docs/missing.md",
      "README.md:3: docs/a.md#part-three: no heading #part-three in docs/a.md",
      "README.md:3: #nowhere: no heading #nowhere in README.md",
    ]);
    assert.deepEqual(brokenLinks(join(root, "docs", "a.md"), root), ["docs/a.md:5: screenshots/none.png: no such file docs/screenshots/none.png"]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
