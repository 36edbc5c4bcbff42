// The import graph keeps its shape: no circles anywhere, and in server/ every arrow points to a lower layer.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * server/'s layers, lowest first. A module may import from a lower layer, or from its own folder; never from a
 * higher layer, nor from another folder of its own layer (so folders never import each other both ways).
 * Top-level files are their own "folder".
 */
const SERVER_LAYERS: ReadonlyArray<readonly string[]> = [
  ["errors.ts", "redact.ts", "deadline.ts", "live-events.ts", "access"], // no server imports: errors, redaction, the bus, origin policy and token buckets
  ["logger.ts"],
  ["process.ts", "shutdown.ts", "periodic.ts", "redis", "queue", "tasks"], // broker adapters, and the task handlers with their registry
  ["store", "auth", "audit", "broadcast"], // state kept in Redis
  ["metrics"], // reading that state: health, Prometheus, activity, the workers list
  ["lifecycle"], // the task lifecycle's orchestration: runner, submission, operator actions, stall sweep
  ["http", "realtime"], // the transports
  ["config.ts"], // read once by the entry points
  ["web-node.ts", "worker-node.ts"], // wiring only
  ["web.ts", "worker.ts"], // entry points
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.tsx?$/.test(entry.name)) out.push(full);
  }
  return out;
}

/** Relative imports (static, re-exports and dynamic) of one file, resolved to files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s+["']([^"']+)["']/g)].map((m) => m[1] ?? m[2] ?? m[3]);
  const out: string[] = [];
  for (const spec of specs) {
    const base = spec.startsWith("@/") ? path.join(ROOT, spec.slice(2)) : spec.startsWith(".") ? path.resolve(path.dirname(file), spec) : undefined;
    if (!base) continue;
    const found = [base, `${base}.ts`, `${base}.tsx`, path.join(base, "index.ts")].find((c) => existsSync(c) && statSync(c).isFile());
    assert.ok(found, `${path.relative(ROOT, file)} imports ${spec}, which does not resolve`);
    out.push(found);
  }
  return out;
}

const rel = (file: string) => path.relative(ROOT, file);
const folderOf = (file: string) => path.relative(path.join(ROOT, "server"), file).split(path.sep)[0];

function graphOf(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const dir of dirs) for (const file of sourceFiles(path.join(ROOT, dir))) graph.set(file, importsOf(file));
  return graph;
}

/** Strongly connected components with more than one file (or a file importing itself): the import circles. */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indexes = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indexes.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indexes.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexes.get(w)!));
    }
    if (low.get(v) === indexes.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.map(rel).sort());
    }
  };
  for (const v of graph.keys()) if (!indexes.has(v)) visit(v);
  return found;
}

test("no import circle in server/, lib/, components/ or app/", () => {
  assert.deepEqual(circles(graphOf(["server", "lib", "components", "app"])), []);
});

test("every server module is in a layer, and every import in server/ points to a lower layer or stays in its folder", () => {
  const rank = new Map<string, number>();
  SERVER_LAYERS.forEach((layer, i) => layer.forEach((name) => rank.set(name, i)));
  const graph = graphOf(["server"]);
  const unplaced = [...new Set([...graph.keys()].map(folderOf))].filter((f) => !rank.has(f));
  assert.deepEqual(unplaced, [], "a new server folder or top-level file needs a place in SERVER_LAYERS");
  const wrong: string[] = [];
  for (const [file, imports] of graph) {
    for (const target of imports) {
      if (!target.startsWith(path.join(ROOT, "server") + path.sep)) continue;
      const [from, to] = [folderOf(file), folderOf(target)];
      if (from === to) continue;
      if (rank.get(to)! >= rank.get(from)!) wrong.push(`${rel(file)} → ${rel(target)} (layer ${rank.get(from)} → ${rank.get(to)})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("lib/ is shared ground: it imports nothing from server/, components/ or app/; the browser never imports server/", () => {
  const wrong: string[] = [];
  for (const [dir, forbidden] of [
    ["lib", ["server", "components", "app"]],
    ["components", ["server"]],
    ["app", ["server"]],
  ] as const) {
    for (const [file, imports] of graphOf([dir])) {
      for (const target of imports) if (forbidden.some((f) => target.startsWith(path.join(ROOT, f) + path.sep))) wrong.push(`${rel(file)} → ${rel(target)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("the checks above see imports: this file's own graph has its imports", () => {
  // Guards against a scanner that silently finds nothing (and so passes everything).
  const webNode = importsOf(path.join(ROOT, "server/web-node.ts")).map(rel);
  assert.ok(webNode.includes("server/lifecycle/task-service.ts"), webNode.join(", "));
  assert.deepEqual(circles(new Map([["a", ["b"]], ["b", ["a"]], ["c", ["a"]]])), [["a", "b"].map((f) => path.relative(ROOT, f))].map((c) => c.sort()));
});
