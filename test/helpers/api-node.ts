// A web node without the Next.js pages, as its own process, for tests that kill one with SIGKILL.
import { loadConfigOrExit } from "../../server/config";
import { createLogger } from "../../server/logger";
import { onShutdownSignal } from "../../server/process";
import { startWebNode } from "../../server/web-node";

const config = loadConfigOrExit();
const log = createLogger("web", config.LOG_LEVEL);
const node = await startWebNode(config, log);
process.stdout.write(`READY ${node.url}\n`);
onShutdownSignal(log, () => node.close());
