// Where each HTTP request goes: the guard first, then /metrics, the JSON API, and the pages (Next.js).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { messageOf } from "../errors";
import type { Logger } from "../logger";
import { sendMetrics } from "../metrics/metrics-server";
import type { RequestContext } from "./request-guard";

export type PageHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export function createRequestHandler(options: {
  guard: (req: IncomingMessage, res: ServerResponse) => Promise<RequestContext | null>;
  api: (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => Promise<boolean>;
  metrics: Registry;
  /** Everything that is not the API (Next.js in production); tests run without it. */
  pages?: PageHandler;
  log: Logger;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const { guard, api, pages, log } = options;
  return (req, res) => {
    guard(req, res)
      .then(async (ctx) => {
        if (!ctx) return;
        if (req.url?.split("?")[0] === "/metrics" && req.method === "GET") return sendMetrics(options.metrics, res);
        if (await api(req, res, ctx)) return;
        if (pages) return pages(req, res);
        res.writeHead(404, { "Content-Type": "text/plain" }).end("Not found");
      })
      .catch((err: unknown) => {
        log.error({ err: messageOf(err), url: req.url }, "request failed");
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
        res.end("Internal error");
      });
  };
}

/** Listens on `host:port` (0: any free port) and resolves with the URL to reach it. */
export async function listen(httpServer: Server, port: number, host: string): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(port, host, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const bound = (httpServer.address() as AddressInfo).port;
  const name = host.includes(":") ? `[${host}]` : host;
  return { url: `http://${name === "0.0.0.0" ? "127.0.0.1" : name}:${bound}`, port: bound };
}
