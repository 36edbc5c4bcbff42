// Entry point of a web node: `npm run start:web` (after `npm run build`), or `npm run dev` with hot reload.
import next from "next";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkExposure, ConfigError, loadConfigOrExit } from "./config";
import { createLogger } from "./logger";
import { onShutdownSignal } from "./process";
import { startWebNode } from "./web-node";

const config = loadConfigOrExit();
try {
  checkExposure(config); // before Next.js starts: refusing to serve should be quick and clear
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
const dev = config.NODE_ENV === "development";
const log = createLogger("web", config.LOG_LEVEL, dev);
const app = next({ dev, dir: projectRoot(), hostname: config.HOST, port: config.PORT });
await app.prepare();
const handle = app.getRequestHandler();

const node = await startWebNode(config, log, (req, res) => handle(req, res));
log.info({ url: node.url, dev }, `Taskcast dashboard: ${node.url}`);
onShutdownSignal(log, async () => {
  await node.close();
  await app.close();
});

/** The folder of package.json and .next/: one up from server/web.ts, two up from its build, dist/server/web.js. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    if (dirname(dir) === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = dirname(dir);
  }
  return dir;
}
