// A TCP proxy on loopback between a process and RabbitMQ or Redis that a test can cut, blackhole or slow
// down on command, to reach failure interleavings on purpose.
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

type Mode = "pass" | "blackhole";

/** One client connection and its upstream. */
interface Pair {
  client: Socket;
  upstream: Socket;
}

export class FaultProxy {
  private mode: Mode = "pass";
  private delayMs = 0;
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {}

  /** Listens on an ephemeral loopback port and forwards to `targetUrl`'s host and port. */
  static async start(targetUrl: string): Promise<FaultProxy> {
    const url = new URL(targetUrl);
    const target = { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port) };
    const server = createServer();
    const proxy = new FaultProxy(server, target);
    server.on("connection", (client) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `url` with its host and port replaced by the proxy's (credentials, path and query kept). */
  via(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(this.port);
    return proxied.toString();
  }

  /** Connections open through the proxy now. */
  get connections(): number {
    return this.pairs.size;
  }

  /**
   * Packets stop in both directions, on open connections and on new ones (which are accepted and hang), as when
   * a network path drops everything: nothing is refused or closed, so clients only notice by timing out.
   * Bytes are held, not dropped, as TCP would retransmit them: `restore()` delivers them.
   */
  blackhole(): void {
    this.mode = "blackhole";
    for (const { client, upstream } of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  /** Back to forwarding: held bytes flow again. */
  restore(): void {
    this.mode = "pass";
    for (const { client, upstream } of this.pairs) {
      client.resume();
      upstream.resume();
    }
  }

  /** Closes every open connection at once (both sides see a reset); new connections are still forwarded. */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Holds every chunk for `ms` before forwarding it (0: no delay). */
  delay(ms: number): void {
    this.delayMs = ms;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const forward = (from: Socket, to: Socket) =>
      from.on("data", (chunk) => {
        if (this.delayMs === 0) to.write(chunk);
        else setTimeout(() => to.writable && to.write(chunk), this.delayMs).unref();
      });
    forward(client, upstream);
    forward(upstream, client);
    if (this.mode === "blackhole") {
      client.pause();
      upstream.pause();
    }
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("error", end);
      socket.on("close", end);
    }
  }
}
